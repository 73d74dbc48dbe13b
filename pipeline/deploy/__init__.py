"""`invoke deploy`: lock, preflight, plan, gated rollout, verification, automatic rollback, record.

One module per stage; ``orchestrator.py`` runs them in order and turns the outcome into an
exit code. Stage decisions (gates, verdicts, rollback policy) are pure functions elsewhere:
``pipeline.rollout.gates``, ``pipeline.verify.thresholds``, ``pipeline.rollback.policy``.
"""
