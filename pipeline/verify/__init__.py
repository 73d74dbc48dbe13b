"""Post-deploy verification: health of the new pods and metrics against the checklist's thresholds.

Pure decisions live in ``thresholds`` (metric arithmetic), ``prometheus_text`` (parsing),
``health`` (``judge_health``) and ``pods`` (which pods are new); I/O lives in thin adapters
(``podproxy``, ``providers``). Every check yields a :class:`~pipeline.verify.verdict.Verdict`.
"""
