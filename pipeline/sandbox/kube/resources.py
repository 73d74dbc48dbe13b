"""The resource types the Kubernetes stand-in serves (what discovery advertises)."""
from pipeline.sandbox.kube.store import Resource

NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False, singular="namespace", short_names=("ns",))
PODS = Resource("", "v1", "pods", "Pod", singular="pod", short_names=("po",), subresources=("status", "proxy", "log"))
SERVICES = Resource("", "v1", "services", "Service", singular="service", short_names=("svc",))
SECRETS = Resource("", "v1", "secrets", "Secret", singular="secret")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", singular="configmap", short_names=("cm",))
EVENTS = Resource("", "v1", "events", "Event", singular="event", short_names=("ev",))
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment", singular="deployment",
                       short_names=("deploy",), subresources=("status", "scale"))
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet", singular="replicaset",
                       short_names=("rs",), subresources=("status", "scale"))
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", singular="lease")

ALL = (NAMESPACES, PODS, SERVICES, SECRETS, CONFIGMAPS, EVENTS, DEPLOYMENTS, REPLICASETS, LEASES)
