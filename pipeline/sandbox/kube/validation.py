"""Defaulting and validation, as the API server's registry strategies do them.

Registered on a :class:`Cluster` as admission hooks (``register(cluster)``), so they hold for
every writer: the HTTP layer and the controllers. Failures raise the 422 ``Invalid``
:class:`ApiError` a real server sends, with ``details.causes``; messages render values
the way Go's field errors do (``map[string]string{"app":"web"}``).
"""
from __future__ import annotations

import ipaddress
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from pipeline.sandbox.kube import resources as R
from pipeline.sandbox.kube import times
from pipeline.sandbox.kube.objects import ApiError, Cluster
from pipeline.sandbox.kube.store import Obj, Resource

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MICROTIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str          # FieldValueInvalid | FieldValueRequired | FieldValueNotSupported | FieldValueForbidden
    body: str            # what follows "<field>: "

    @property
    def text(self) -> str:
        return f"{self.field}: {self.body}"


def invalid_value(field: str, value: str, detail: str) -> FieldError:
    return FieldError(field, "FieldValueInvalid", f"Invalid value: {value}: {detail}")


def required(field: str, detail: str = "") -> FieldError:
    return FieldError(field, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))


def invalid(resource: Resource, name: str, errors: list[FieldError]) -> ApiError:
    kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    joined = errors[0].text if len(errors) == 1 else "[" + ", ".join(e.text for e in errors) + "]"
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {joined}', {
        "name": name, "group": resource.group, "kind": resource.kind,
        "causes": [{"reason": e.reason, "message": e.body, "field": e.field} for e in errors]})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


# --- Go-style value rendering --------------------------------------------------------------

def go_quote(value: str) -> str:
    return json.dumps(value)


def go_map(labels: dict[str, str] | None) -> str:
    if labels is None:
        return "map[string]string(nil)"
    return "map[string]string{" + ", ".join(f"{go_quote(k)}:{go_quote(str(v))}" for k, v in sorted(labels.items())) + "}"


def go_selector(selector: Obj) -> str:
    expressions = selector.get("matchExpressions")
    rendered = "[]v1.LabelSelectorRequirement(nil)" if not expressions else "[]v1.LabelSelectorRequirement{" + ", ".join(
        f'v1.LabelSelectorRequirement{{Key:{go_quote(e.get("key", ""))}, Operator:{go_quote(e.get("operator", ""))}, '
        f'Values:[]string{{{", ".join(go_quote(v) for v in e.get("values") or [])}}}}}' for e in expressions) + "}"
    return f"v1.LabelSelector{{MatchLabels:{go_map(selector.get('matchLabels'))}, MatchExpressions:{rendered}}}"


def go_int_or_string(value: Any) -> str:
    if isinstance(value, str):
        return f'intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(value)}}}'
    return f'intstr.IntOrString{{Type:0, IntVal:{value}, StrVal:""}}'


# --- shared checks -------------------------------------------------------------------------

def check_name(obj: Obj, dns_label: bool = False) -> list[FieldError]:
    name = obj.get("metadata", {}).get("name")
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    pattern, msg, limit = (_DNS_LABEL, LABEL_MSG, 63) if dns_label else (_DNS_SUBDOMAIN, SUBDOMAIN_MSG, 253)
    if not isinstance(name, str) or len(name) > limit or not pattern.match(name):
        return [invalid_value("metadata.name", go_quote(str(name)), msg)]
    return []


def selector_matches(selector: Obj, labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_string(selector: Obj) -> str:
    """``app=web,tier in (a,b)``: a LabelSelector as ``kubectl``/Scale status print it."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), sorted(expr.get("values") or [])
        parts.append({"In": f"{key} in ({','.join(values)})", "NotIn": f"{key} notin ({','.join(values)})",
                      "Exists": key, "DoesNotExist": f"!{key}"}.get(op, key))
    return ",".join(sorted(parts))


# --- pods ----------------------------------------------------------------------------------

def default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        tag = image.rsplit("/", 1)[-1]
        latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("resources", {})
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
        for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(probe_name)
            if isinstance(probe, dict):
                for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                                   ("failureThreshold", 3)):
                    probe.setdefault(key, value)
                if isinstance(probe.get("httpGet"), dict):
                    probe["httpGet"].setdefault("scheme", "HTTP")


def check_pod_spec(spec: Any, path: str) -> list[FieldError]:
    if not isinstance(spec, dict):
        return [required(path)]
    containers = spec.get("containers")
    if not containers:
        return [required(f"{path}.containers")]
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, container in enumerate(containers):
        where = f"{path}.containers[{i}]"
        if not isinstance(container, dict):
            errors.append(required(where))
            continue
        name = container.get("name")
        if not name:
            errors.append(required(f"{where}.name"))
        elif not isinstance(name, str) or not _DNS_LABEL.match(name):
            errors.append(invalid_value(f"{where}.name", go_quote(str(name)), LABEL_MSG))
        elif name in seen:
            errors.append(FieldError(f"{where}.name", "FieldValueDuplicate", f"Duplicate value: {go_quote(name)}"))
        else:
            seen.add(name)
        if not container.get("image"):
            errors.append(required(f"{where}.image"))
        for j, port in enumerate(container.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if not isinstance(number, int) or not 0 < number < 65536:
                errors.append(invalid_value(f"{where}.ports[{j}].containerPort", str(number),
                                            "must be between 1 and 65535, inclusive"))
    return errors


def pod_admission(obj: Obj, old: Obj | None) -> None:
    default_pod_spec(obj.setdefault("spec", {}))
    obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
    errors = check_name(obj) + check_pod_spec(obj.get("spec"), "spec")
    if errors:
        raise invalid(R.PODS, obj["metadata"].get("name", ""), errors)


# --- deployments and replicasets -----------------------------------------------------------

def _parse_int_or_percent(value: Any, field: str, errors: list[FieldError]) -> tuple[int, bool] | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if value < 0:
            errors.append(invalid_value(field, str(value), "must be greater than or equal to 0"))
        return value, False
    if isinstance(value, str):
        match = re.fullmatch(r"(\d+)%", value)
        if not match:
            errors.append(invalid_value(field, go_quote(value), "a valid percent string must be a numeric string "
                                        "followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation "
                                        "is '[0-9]+%')"))
            return None
        number = int(match.group(1))
        if number > 100:
            errors.append(invalid_value(field, go_quote(value), "must not be greater than 100%"))
        return number, True
    errors.append(invalid_value(field, json.dumps(value), "must be an integer or percentage"))
    return None


def _default_workload(obj: Obj, deployment: bool) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        if deployment:
            strategy = spec.setdefault("strategy", {})
            if isinstance(strategy, dict):
                strategy.setdefault("type", "RollingUpdate")
                if strategy["type"] == "RollingUpdate":
                    rolling = strategy.setdefault("rollingUpdate", {})
                    if isinstance(rolling, dict):
                        rolling.setdefault("maxUnavailable", "25%")
                        rolling.setdefault("maxSurge", "25%")
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
        template = spec.get("template")
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"])


def _check_workload(obj: Obj, old: Obj | None, deployment: bool) -> list[FieldError]:
    errors = check_name(obj)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return errors + [required("spec")]
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        errors.append(invalid_value("spec.replicas", str(replicas), "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template") if isinstance(spec.get("template"), dict) else None
    if not isinstance(selector, dict):
        errors.append(required("spec.selector"))
    elif not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errors.append(invalid_value("spec.selector", go_selector(selector),
                                    f"empty selector is invalid for {'deployment' if deployment else 'replicaset'}"))
    elif template is not None:
        labels = (template.get("metadata") or {}).get("labels") or {}
        if not selector_matches(selector, labels):
            errors.append(invalid_value("spec.template.metadata.labels", go_map(labels),
                                        "`selector` does not match template `labels`"))
    if template is None:
        errors.append(required("spec.template"))
    else:
        errors += check_pod_spec(template.get("spec"), "spec.template.spec")
        policy = (template.get("spec") or {}).get("restartPolicy")
        if policy not in (None, "Always"):
            errors.append(FieldError("spec.template.spec.restartPolicy", "FieldValueNotSupported",
                                     f'Unsupported value: {go_quote(str(policy))}: supported values: "Always"'))
    if old is not None and isinstance(selector, dict):
        old_selector = old.get("spec", {}).get("selector")
        if old_selector is not None and selector != old_selector:
            errors.append(invalid_value("spec.selector", go_selector(selector), "field is immutable"))
    if deployment:
        errors += _check_strategy(spec)
        for field in ("revisionHistoryLimit", "minReadySeconds"):
            value = spec.get(field)
            if isinstance(value, int) and value < 0:
                errors.append(invalid_value(f"spec.{field}", str(value), "must be greater than or equal to 0"))
        deadline, ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds", 0)
        if isinstance(deadline, int) and isinstance(ready, int) and deadline <= ready:
            errors.append(invalid_value("spec.progressDeadlineSeconds", str(deadline),
                                        "must be greater than minReadySeconds"))
    return errors


def _check_strategy(spec: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type")
    if kind not in ("RollingUpdate", "Recreate"):
        return [FieldError("spec.strategy.type", "FieldValueNotSupported",
                           f'Unsupported value: {go_quote(str(kind))}: supported values: "Recreate", "RollingUpdate"')]
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            errors.append(FieldError("spec.strategy.rollingUpdate", "FieldValueForbidden",
                                     "Forbidden: may not be specified when strategy `type` is 'Recreate'"))
        return errors
    rolling = rolling or {}
    base = "spec.strategy.rollingUpdate"
    surge = _parse_int_or_percent(rolling.get("maxSurge"), f"{base}.maxSurge", errors)
    unavailable = _parse_int_or_percent(rolling.get("maxUnavailable"), f"{base}.maxUnavailable", errors)
    if surge is not None and unavailable is not None and surge[0] == 0 and unavailable[0] == 0:
        errors.append(invalid_value(f"{base}.maxUnavailable", go_int_or_string(rolling.get("maxUnavailable")),
                                    "may not be 0 when `maxSurge` is 0"))
    return errors


def workload_admission(resource: Resource, deployment: bool) -> Callable[[Obj, Obj | None], None]:
    def hook(obj: Obj, old: Obj | None) -> None:
        _default_workload(obj, deployment)
        if old is None:   # PrepareForCreate resets status; ReplicaSetStatus.replicas is not omitempty
            obj["status"] = {} if deployment else {"replicas": 0}
        errors = _check_workload(obj, old, deployment)
        if errors:
            raise invalid(resource, obj.get("metadata", {}).get("name", ""), errors)
    return hook


# --- the rest ------------------------------------------------------------------------------

def _service_admission(cluster: Cluster) -> Callable[[Obj, Obj | None], None]:
    counter = itertools.count(1)

    def allocate() -> str:
        used = {o.get("spec", {}).get("clusterIP") for o in cluster.list(R.SERVICES)}
        while True:
            n = next(counter)
            ip = str(ipaddress.IPv4Address("10.96.0.0") + n)
            if ip not in used:
                return ip

    def hook(obj: Obj, old: Obj | None) -> None:
        spec = obj.setdefault("spec", {})
        errors = check_name(obj, dns_label=True)
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if old is not None and not spec.get("clusterIP"):
            spec["clusterIP"] = old.get("spec", {}).get("clusterIP")
        if spec["type"] != "ExternalName":
            spec.setdefault("clusterIP", allocate())
            spec.setdefault("clusterIPs", [spec["clusterIP"]] if spec["clusterIP"] != "None" else ["None"])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        if old is not None and old.get("spec", {}).get("clusterIP") not in (None, spec.get("clusterIP")):
            errors.append(invalid_value("spec.clusterIPs[0]", go_quote(str(spec.get("clusterIP"))),
                                        "may not change once set"))
        ports = spec.get("ports") or []
        if not ports and spec.get("clusterIP") != "None" and spec["type"] != "ExternalName":
            errors.append(required("spec.ports"))
        for i, port in enumerate(ports):
            if not isinstance(port, dict) or not isinstance(port.get("port"), int):
                errors.append(required(f"spec.ports[{i}].port"))
                continue
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port["port"])
        obj.setdefault("status", {"loadBalancer": {}})
        if errors:
            raise invalid(R.SERVICES, obj.get("metadata", {}).get("name", ""), errors)
    return hook


def namespace_admission(obj: Obj, old: Obj | None) -> None:
    errors = check_name(obj, dns_label=True)
    if errors:
        raise invalid(R.NAMESPACES, obj.get("metadata", {}).get("name", ""), errors)
    obj.setdefault("spec", {"finalizers": ["kubernetes"]})
    obj.setdefault("status", {"phase": "Active"})
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def secret_admission(obj: Obj, old: Obj | None) -> None:
    import base64

    errors = check_name(obj)
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    for key, value in (obj.get("data") or {}).items():
        try:
            base64.b64decode(str(value), validate=True)
        except ValueError:
            raise bad_request(f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data '
                              f'at input byte 0 (key {key!r})') from None
    if errors:
        raise invalid(R.SECRETS, obj.get("metadata", {}).get("name", ""), errors)


def named_admission(resource: Resource) -> Callable[[Obj, Obj | None], None]:
    def hook(obj: Obj, old: Obj | None) -> None:
        errors = check_name(obj)
        if errors:
            raise invalid(resource, obj.get("metadata", {}).get("name", ""), errors)
    return hook


def lease_admission(obj: Obj, old: Obj | None) -> None:
    spec = obj.get("spec") or {}
    for field in ("acquireTime", "renewTime"):
        value = spec.get(field)
        if value is not None and (not isinstance(value, str) or not _MICROTIME.match(value)):
            raise bad_request(f'Lease in version "v1" cannot be handled as a Lease: parsing time '
                              f'{go_quote(str(value))} as "2006-01-02T15:04:05.000000Z07:00": cannot parse '
                              f'{go_quote(str(value))} as a MicroTime (RFC 3339, exactly 6 fraction digits)')
    errors = check_name(obj)
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        errors.append(invalid_value("spec.leaseDurationSeconds", str(duration), "must be greater than 0"))
    if errors:
        raise invalid(R.LEASES, obj.get("metadata", {}).get("name", ""), errors)


# --- decoding: what the Go types accept --------------------------------------------------------

STRING_MAPS: dict[Resource, tuple[tuple[str, tuple[str, ...]], ...]] = {
    R.DEPLOYMENTS: (("ObjectMeta", ("spec", "template", "metadata", "labels")),
                    ("ObjectMeta", ("spec", "template", "metadata", "annotations")),
                    ("LabelSelector", ("spec", "selector", "matchLabels")),
                    ("PodSpec", ("spec", "template", "spec", "nodeSelector"))),
    R.PODS: (("PodSpec", ("spec", "nodeSelector")),),
    R.SERVICES: (("ServiceSpec", ("spec", "selector")),),
    R.CONFIGMAPS: (("ConfigMap", ("data",)),),
}
STRING_MAPS[R.REPLICASETS] = STRING_MAPS[R.DEPLOYMENTS]
GO_JSON_TYPES = ((bool, "bool"), (int, "number"), (float, "number"), (dict, "object"), (list, "array"))


def _go_json_type(value: Any) -> str:
    return next(name for kind, name in GO_JSON_TYPES if isinstance(value, kind))


def decoding_admission(resource: Resource) -> Callable[[Obj, Obj | None], None]:
    """400 for a non-string in a string map, as the API server's JSON decoder answers (``app: y``
    in YAML 1.1 is a bool: kubectl sends ``true``)."""
    paths = (("ObjectMeta", ("metadata", "labels")), ("ObjectMeta", ("metadata", "annotations"))) \
        + STRING_MAPS.get(resource, ())

    def hook(obj: Obj, old: Obj | None) -> None:
        for struct, path in paths:
            node: Any = obj
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            for value in (node.values() if isinstance(node, dict) else ()):
                if value is not None and not isinstance(value, str):
                    raise bad_request(f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                                      f'{resource.kind}: json: cannot unmarshal {_go_json_type(value)} into Go '
                                      f'struct field {struct}.{".".join(path)} of type string')
    return hook


def register(cluster: Cluster) -> None:
    """Install defaulting + validation for every served resource (before anyone else's hooks)."""
    hooks: dict[Resource, Callable[[Obj, Obj | None], None]] = {
        R.DEPLOYMENTS: workload_admission(R.DEPLOYMENTS, deployment=True),
        R.REPLICASETS: workload_admission(R.REPLICASETS, deployment=False),
        R.PODS: pod_admission,
        R.SERVICES: _service_admission(cluster),
        R.NAMESPACES: namespace_admission,
        R.SECRETS: secret_admission,
        R.CONFIGMAPS: named_admission(R.CONFIGMAPS),
        R.EVENTS: named_admission(R.EVENTS),
        R.LEASES: lease_admission,
    }
    for resource, hook in hooks.items():
        cluster.admission.setdefault(resource, []).insert(0, hook)
        cluster.admission[resource].insert(0, decoding_admission(resource))
        cluster.normalisers.setdefault(resource, []).append(times.admission(resource))
