"""Post-deploy verification: health, synthetic webhooks and metrics against the checklist's thresholds.

Pure decisions: ``verdict`` (pass | fail | inconclusive), ``thresholds`` (metric arithmetic),
``samples`` (scrapes kept across rounds), ``judge`` (thresholds and the evidence floor),
``prometheus_text`` (parsing), ``health`` (``judge_health``), ``synthetic`` (signing and
judging the webhooks), ``transient`` (the API server's answer or the pod's) and ``pods``
(which pods are new). Thin I/O: ``podproxy`` (with bounded retries) and ``providers``.
``pipeline.deploy.verification`` runs them at a gate and during the bake.
"""
