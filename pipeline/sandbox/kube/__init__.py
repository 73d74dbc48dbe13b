"""The Kubernetes API stand-in: store, object rules, HTTP server, controllers, simulated kubelet."""
