"""Gated rollout: the pure arithmetic of holding a Kubernetes rolling update at gates."""
