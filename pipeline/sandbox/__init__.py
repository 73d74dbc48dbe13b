"""Local stand-ins for the Kubernetes API, the Klaviyo API and status page, and LaunchDarkly.

Nothing outside ``pipeline.sandbox`` (and the tests) imports this package: production code
talks to these servers only over HTTP, through the same clients it uses against the real
services. ``harness.py`` runs them; ``supervisor.py`` backs ``invoke sandbox.up|down|status``.
"""
