"""Kubernetes adapter: an ApiClient from the environment's kubeconfig, and rollout tracking.

Decisions (is this rollout complete? which ReplicaSet is revision N?) are pure functions over
the wire form of objects (camelCase dicts, as the API server sends them); the I/O goes through
``api.KubeApi`` (the calls the pipeline makes, as JSON, without the generated models).
"""
