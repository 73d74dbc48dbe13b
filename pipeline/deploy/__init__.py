"""`invoke deploy`: a small state machine that ends known-good, whatever happens.

Read it in this order:

* ``state.py``: the typed state, the events effects report, the intent recorded in the Lease;
* ``transitions.py``: (state, event) -> next state, pure; every rule that makes it fail closed;
* ``effects.py``: one adapter call per phase (render, apply, gates, verification, rollback);
* ``engine.py``: the loop that runs effects and transitions to a final state and exit code;
* ``recovery.py``: finishing what a dead deploy left behind, from its recorded intent.

Watching the cluster is ``pipeline.kube.informer``; every write goes through
``pipeline.kube.retry``. Stage decisions (gates, verdicts, rollback policy) are pure functions
in ``pipeline.rollout.gates``, ``pipeline.verify`` and ``pipeline.rollback.policy``.
"""
