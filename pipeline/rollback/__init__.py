"""Rollback mechanisms: the LaunchDarkly kill switch, Kubernetes rollout undo, git revert.

Each mechanism is one module implementing :class:`pipeline.rollback.result.Mechanism`;
``policy.py`` decides which run, in what order; ``invoke rollback`` and the automatic
rollback of ``invoke deploy`` both call them.
"""
