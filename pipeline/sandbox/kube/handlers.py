"""HTTP verbs on resources: list/watch/get/create/update/patch/delete, status and scale.

Thin adapter between aiohttp requests and the :class:`Cluster`: it decodes bodies and
query parameters, calls the cluster, and renders objects, lists, Tables and Status
errors the way a real API server does. Decisions live in the pure modules it calls
(``routing``, ``selectors``, ``patch``, ``tables``, ``validation``).
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, Callable

import yaml
from aiohttp import web

from pipeline.sandbox.kube import faults
from pipeline.sandbox.kube import patch as patching
from pipeline.sandbox.kube import protobuf
from pipeline.sandbox.kube import resources as R
from pipeline.sandbox.kube import tables, watch
from pipeline.sandbox.kube.objects import ApiError, Cluster, not_found
from pipeline.sandbox.kube.routing import Target
from pipeline.sandbox.kube.selectors import SelectorError, parse_fields, parse_labels
from pipeline.sandbox.kube.store import Obj, Resource, clone
from pipeline.sandbox.kube.validation import bad_request, invalid, invalid_value, selector_string

CREATE_ON_UPDATE = {R.SERVICES, R.EVENTS, R.LEASES, R.CONFIGMAPS}
RETURNS_DELETED_OBJECT = {R.PODS, R.NAMESPACES}
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "managedFields", "selfLink")
JSON_TYPES = ("", "application/json", "*/*")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
SCALE = Resource("autoscaling", "v1", "scale", "Scale")


def dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


def respond(body: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(body=dumps(body).encode(), status=status,
                        headers={"Content-Type": content_type, "Cache-Control": "no-cache, private"})


def error_response(error: ApiError) -> web.Response:
    return respond(error.status(), error.code)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def unsupported_media(content_type: str, accepted: tuple[str, ...]) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted "
                    f"media types include: {', '.join(accepted)}", {})


@dataclass(frozen=True)
class Options:
    """The query parameters every write shares."""
    dry_run: bool
    field_manager: str | None
    field_validation: str
    force: bool

    @classmethod
    def parse(cls, query: Any) -> "Options":
        dry = query.getall("dryRun", [])
        for value in dry:
            if value != "All":
                raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        validation = query.get("fieldValidation", "Strict")
        if validation not in ("Ignore", "Warn", "Strict"):
            raise bad_request(f"fieldValidation: Unsupported value: {json.dumps(validation)}: supported values: "
                              '"Ignore", "Warn", "Strict"')
        force = query.get("force", "false").lower()
        manager = query.get("fieldManager")
        if manager is not None and (len(manager) > 128 or not manager.isprintable()):
            raise invalid_options("fieldManager", f"Invalid value: {json.dumps(manager)}: must be no more than "
                                  "128 printable characters")
        return cls(bool(dry), manager, validation, force in ("true", "1"))

    def manager(self, request: web.Request) -> str:
        """The field manager of an Update: ``fieldManager``, else the User-Agent up to its first "/"."""
        return self.field_manager or request.headers.get("User-Agent", "").split("/")[0][:128] or "unknown"


def invalid_options(field: str, detail: str, kind: str = "PatchOptions") -> ApiError:
    return ApiError(422, "Invalid", f'{kind}.meta.k8s.io "" is invalid: {field}: {detail}',
                    {"group": "meta.k8s.io", "kind": kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}]})


def tail_lines(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.lstrip("-").isdigit():
        raise bad_request(f'tailLines: Invalid value: "{raw}": must be an integer')
    value = int(raw)
    if value < 0:
        raise invalid_options("tailLines", f"Invalid value: {value}: must be greater than or equal to 0",
                              "PodLogOptions")
    return value


def last_lines(text: str, count: int | None) -> str:
    """The last ``count`` lines of a log (all of it for None), as the kubelet's ``tailLines``."""
    if count is None:
        return text
    if count == 0:
        return ""
    lines = text.splitlines(keepends=True)
    return "".join(lines[-count:])


def delete_options(query: Any, body: Obj) -> tuple[int | None, str | None]:
    """(gracePeriodSeconds, propagationPolicy) from the query string or the DeleteOptions body."""
    grace_raw = query.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
    try:
        grace = None if grace_raw is None else int(grace_raw)
    except (TypeError, ValueError):
        raise bad_request(f'gracePeriodSeconds: Invalid value: "{grace_raw}": must be an integer') from None
    policy = query.get("propagationPolicy", body.get("propagationPolicy"))
    orphan = query.get("orphanDependents", body.get("orphanDependents"))
    if orphan is not None and policy is not None:
        raise invalid_options("propagationPolicy", "Invalid value: \"" + str(policy) + "\": orphanDependents and "
                              "deletionPropagation cannot be both set", "DeleteOptions")
    if orphan is not None:
        policy = "Orphan" if str(orphan).lower() in ("true", "1") else "Background"
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise invalid_options("propagationPolicy", f'Unsupported value: "{policy}": supported values: '
                              '"Foreground", "Background", "Orphan", "nil"', "DeleteOptions")
    return grace, policy


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


async def read_object(request: web.Request, resource: Resource) -> Obj:
    """The request body as an object (no Content-Type = JSON, as the python client sends it)."""
    kind = media_type(request)
    raw = await request.read()
    try:
        if kind in JSON_TYPES:
            body = json.loads(raw or b"null")
        elif kind in YAML_TYPES:
            body = yaml.safe_load(raw.decode() or "null")
        elif kind == protobuf.MEDIA_TYPE:
            try:
                body = protobuf.decode(raw)
            except protobuf.ProtobufError as exc:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                               f"accepted media types include: application/json, application/yaml ({exc})",
                               {}) from None
        else:
            raise unsupported_media(kind, ("application/json", "application/yaml"))
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"the object provided is unrecognized (must be of type {resource.kind}): "
                          f"couldn't get version/kind; json parse error: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request(f"the object provided is unrecognized (must be of type {resource.kind}): "
                          "couldn't get version/kind; json parse error: expected an object")
    check_kind(body, resource)
    return body


def check_kind(body: Obj, resource: Resource, expected_kind: str | None = None,
               expected_version: str | None = None) -> None:
    kind, version = expected_kind or resource.kind, expected_version or resource.api_version
    if body.get("kind") not in (None, "", kind):
        raise bad_request(f'{kind} in version "{resource.version}" cannot be handled as a {kind}: '
                          f'the kind in the data ({body.get("kind")}) does not match the expected kind ({kind})')
    if body.get("apiVersion") not in (None, "", version):
        raise bad_request(f'the API version in the data ({body.get("apiVersion")}) does not match the expected '
                          f'API version ({version})')


class ResourceHandlers:
    """Serves one request addressed by a :class:`Target`."""

    def __init__(self, cluster: Cluster, hub: watch.WatchHub,
                 pod_log: Callable[[Cluster, str, str, str | None], str | None] | None = None) -> None:
        self.cluster = cluster
        self.hub = hub
        self.pod_log = pod_log

    # --- dispatch ---------------------------------------------------------------------------
    async def handle(self, request: web.Request, target: Target) -> web.StreamResponse:
        method = request.method
        if target.subresource == "scale":
            return await self.scale(request, target)
        if target.name is None:
            if method == "GET":
                return await self.list_or_watch(request, target)
            if method == "POST":
                return await self.create(request, target)
            if method == "DELETE":
                return await self.delete_collection(request, target)
            raise method_not_allowed()
        if target.subresource == "log" and method == "GET":
            self.cluster.get(target.resource, target.namespace or "", target.name)
            lines = tail_lines(request.query.get("tailLines"))
            text = self.pod_log(self.cluster, target.namespace or "", target.name,
                                request.query.get("container")) if self.pod_log else None
            return web.Response(text=last_lines(text or "", lines), content_type="text/plain")
        if method == "GET":
            obj = self.cluster.get(target.resource, target.namespace or "", target.name)
            return self.render(request, target.resource, [obj], single=True)
        if method == "PUT":
            return await self.replace(request, target)
        if method == "PATCH":
            return await self.patch(request, target)
        if method == "DELETE":
            return await self.delete(request, target)
        raise method_not_allowed()

    # --- reads ------------------------------------------------------------------------------
    def predicate(self, request: web.Request, resource: Resource) -> Callable[[Obj], bool]:
        query = request.query
        labels_text, fields_text = query.get("labelSelector", ""), query.get("fieldSelector", "")
        try:
            labels = parse_labels(labels_text)
            fields = parse_fields(fields_text, resource.kind)
        except SelectorError as exc:
            raise bad_request(str(exc)) from None
        return lambda obj: labels(obj.get("metadata", {}).get("labels") or {}) and fields(obj)

    async def list_or_watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        predicate = self.predicate(request, target.resource)
        query = request.query
        if query.get("watch", "").lower() in ("1", "true"):
            return await self.watch(request, target, predicate)
        store = self.cluster.store   # rendering only reads: the stored objects themselves, no copies
        items = list(store.scan(target.resource, target.namespace, predicate))
        return self.render(request, target.resource, items, rv=store.resource_version)

    async def watch(self, request: web.Request, target: Target, predicate: Callable[[Obj], bool]) -> web.StreamResponse:
        query = request.query
        rv = query.get("resourceVersion")
        if rv not in (None, "") and not rv.isdigit():
            raise bad_request(f'resourceVersion: Invalid value: "{rv}": must be a non-negative integer')
        try:
            timeout = float(query["timeoutSeconds"]) if "timeoutSeconds" in query else None
        except ValueError:
            raise bad_request(f'timeoutSeconds: Invalid value: "{query["timeoutSeconds"]}"') from None
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        include = query.get("includeObject", "Metadata")
        encoder = None
        if as_table:
            def encoder(type_: str, obj: Obj) -> Obj:
                return tables.table(target.resource.kind, [obj], obj["metadata"].get("resourceVersion", ""), include)
        watcher = watch.Watcher(target.resource, target.namespace, predicate,
                                encoding=f"table:{include}" if as_table else "json", encoder=encoder)
        send_initial = query.get("sendInitialEvents", "").lower() == "true" or None
        return await watch.serve(request, self.hub, watcher, rv, timeout,
                                 query.get("allowWatchBookmarks", "").lower() in ("1", "true"), send_initial,
                                 request.get(faults.CUT_AFTER))

    def render(self, request: web.Request, resource: Resource, items: list[Obj], single: bool = False,
               rv: int | None = None) -> web.Response:
        if tables.wants_table(request.headers.get("Accept", "")):
            version = items[0]["metadata"]["resourceVersion"] if single else str(rv)
            body = tables.table(resource.kind, items, version, request.query.get("includeObject", "Metadata"))
            return respond(body, content_type=tables.TABLE_MEDIA)
        if single:
            return respond(items[0])
        return respond({"kind": f"{resource.kind}List", "apiVersion": resource.api_version,
                        "metadata": {"resourceVersion": str(rv)}, "items": items})

    # --- writes -----------------------------------------------------------------------------
    def _namespace_must_exist(self, resource: Resource, namespace: str | None, name: str = "") -> None:
        if not resource.namespaced or not namespace:
            return
        found = self.cluster.store.get(R.NAMESPACES, "", namespace)
        if found is None:
            raise not_found(R.NAMESPACES, namespace)
        if found["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f'{resource.qualified} "{name}" is forbidden: unable to create new '
                           f"content in namespace {namespace} because it is being terminated",
                           {"name": name, "group": resource.group, "kind": resource.plural})

    def _prepare_new(self, target: Target, body: Obj) -> Obj:
        body = clone(body)
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata: must be an object")
        for key in SERVER_METADATA:
            meta.pop(key, None)
        if target.resource.namespaced:
            if meta.get("namespace") not in (None, "", target.namespace):
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            meta["namespace"] = target.namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(secrets.choice(GENERATE_ALPHABET) for _ in range(5))
        if "status" in target.resource.subresources and target.resource is not R.PODS:
            body.pop("status", None)
        if target.resource is R.PODS:
            body.pop("status", None)
        body["apiVersion"], body["kind"] = target.resource.api_version, target.resource.kind
        return body

    async def create(self, request: web.Request, target: Target) -> web.Response:
        options = Options.parse(request.query)
        if target.resource.namespaced and target.namespace is None:
            raise method_not_allowed()
        body = self._prepare_new(target, await read_object(request, target.resource))
        self._namespace_must_exist(target.resource, target.namespace, body["metadata"].get("name", ""))
        created = self.cluster.create(target.resource, body, dry_run=options.dry_run,
                                      manager=options.manager(request))
        return respond(created, 201)

    async def replace(self, request: web.Request, target: Target) -> web.Response:
        options = Options.parse(request.query)
        body = await read_object(request, target.resource)
        meta = body.setdefault("metadata", {})
        if meta.get("name") not in (None, target.name):
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                              f"({target.name})")
        meta["name"] = target.name
        if target.resource.namespaced:
            if meta.get("namespace") not in (None, "", target.namespace):
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            meta["namespace"] = target.namespace
        namespace = target.namespace or ""
        if self.cluster.store.get(target.resource, namespace, target.name or "") is None:
            if target.subresource is None and target.resource in CREATE_ON_UPDATE:
                self._namespace_must_exist(target.resource, target.namespace, target.name or "")
                return respond(self.cluster.create(target.resource, self._prepare_new(target, body),
                                                   dry_run=options.dry_run, manager=options.manager(request)), 201)
            raise not_found(target.resource, target.name or "")
        return respond(self._write(target, body, options, options.manager(request)))

    def _write(self, target: Target, obj: Obj, options: Options, manager: str) -> Obj:
        obj["apiVersion"], obj["kind"] = target.resource.api_version, target.resource.kind
        if target.subresource == "status":
            return self.cluster.update_status(target.resource, obj, dry_run=options.dry_run, manager=manager)
        return self.cluster.update(target.resource, obj, dry_run=options.dry_run, manager=manager)

    async def patch(self, request: web.Request, target: Target) -> web.Response:
        options = Options.parse(request.query)
        kind = media_type(request)
        if kind not in patching.SUPPORTED:
            raise unsupported_media(kind, (patching.JSON_PATCH, patching.MERGE, patching.APPLY, patching.STRATEGIC))
        document = patching.parse_body(kind, await request.read())
        namespace = target.namespace or ""
        current = self.cluster.store.get(target.resource, namespace, target.name or "")
        if kind == patching.APPLY:
            return await self._apply(request, target, options, document, current)
        if options.force:
            raise invalid_options("force", "Forbidden: may not be specified for non-apply patch")
        if current is None:
            raise not_found(target.resource, target.name or "")
        patched = patching.apply_patch(kind, current, document)
        if not isinstance(patched.get("metadata"), dict):
            raise bad_request("metadata: must be an object")
        patched["metadata"]["name"], patched["metadata"]["namespace"] = target.name, current["metadata"].get("namespace")
        if not target.resource.namespaced:
            patched["metadata"].pop("namespace", None)
        if patched["metadata"].get("resourceVersion") is None:
            patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return respond(self._write(target, patched, options, options.manager(request)))

    async def _apply(self, request: web.Request, target: Target, options: Options, document: Any,
                     current: Obj | None) -> web.Response:
        """Server-side apply: create when missing, else merge with field ownership (managed.py)."""
        if not isinstance(document, dict):
            raise bad_request("error decoding YAML: the applied configuration must be an object")
        if not options.field_manager:
            raise invalid_options("fieldManager", "Required value: is required for apply patch")
        check_kind(document, target.resource)
        if not document.get("kind") or not document.get("apiVersion"):
            raise bad_request("invalid object type: /, Kind=")
        meta = document.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise bad_request("metadata: must be an object")
        if target.subresource is None:
            document.pop("status", None)
        if current is None:
            if target.subresource is not None:
                raise not_found(target.resource, target.name or "")
            self._namespace_must_exist(target.resource, target.namespace, target.name or "")
            body = self._prepare_new(target, document)
            body["metadata"]["name"] = target.name
            return respond(self.cluster.create(target.resource, body, dry_run=options.dry_run,
                                               manager=options.field_manager, operation="Apply"), 201)
        config = clone(document)
        config.setdefault("metadata", {})
        for key in SERVER_METADATA:
            if key != "resourceVersion":
                config["metadata"].pop(key, None)
        config["metadata"]["name"] = target.name
        if target.resource.namespaced:
            config["metadata"]["namespace"] = target.namespace
        else:
            config["metadata"].pop("namespace", None)
        return respond(self.cluster.apply(target.resource, config, options.field_manager, options.force,
                                          target.subresource, dry_run=options.dry_run))

    async def delete(self, request: web.Request, target: Target) -> web.Response:
        options = Options.parse(request.query)
        body = await self._delete_options(request)
        namespace = target.namespace or ""
        current = self.cluster.get(target.resource, namespace, target.name or "")
        pre = body.get("preconditions") or {}
        if pre.get("uid") not in (None, current["metadata"]["uid"]):
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {target.resource.qualified} '
                           f'"{target.name}": Precondition failed: UID in precondition: {pre["uid"]}, UID in object '
                           f'meta: {current["metadata"]["uid"]}', {"name": target.name, "group": target.resource.group,
                                                                   "kind": target.resource.plural})
        if pre.get("resourceVersion") not in (None, current["metadata"]["resourceVersion"]):
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {target.resource.qualified} '
                           f'"{target.name}": Precondition failed: ResourceVersion in precondition: '
                           f'{pre["resourceVersion"]}, ResourceVersion in object meta: '
                           f'{current["metadata"]["resourceVersion"]}',
                           {"name": target.name, "group": target.resource.group, "kind": target.resource.plural})
        dry = options.dry_run or body.get("dryRun") == ["All"]
        grace, policy = delete_options(request.query, body)
        deleted = self.cluster.delete(target.resource, namespace, target.name or "", dry_run=dry,
                                      grace_period=grace, propagation=policy)
        if target.resource in RETURNS_DELETED_OBJECT or deleted["metadata"].get("deletionTimestamp"):
            return respond(deleted)
        return respond(success(target.resource, deleted))

    async def _delete_options(self, request: web.Request) -> Obj:
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise bad_request(f"json: cannot unmarshal DeleteOptions: {exc}") from None
        return body if isinstance(body, dict) else {}

    async def delete_collection(self, request: web.Request, target: Target) -> web.Response:
        options = Options.parse(request.query)
        grace, policy = delete_options(request.query, await self._delete_options(request))
        predicate = self.predicate(request, target.resource)
        items, _ = self.cluster.store.list(target.resource, target.namespace, predicate)
        deleted = []
        for obj in items:
            meta = obj["metadata"]
            if self.cluster.store.exists(target.resource, meta.get("namespace", ""), meta["name"]):
                deleted.append(self.cluster.delete(target.resource, meta.get("namespace", ""), meta["name"],
                                                   dry_run=options.dry_run, grace_period=grace, propagation=policy))
        return respond({"kind": f"{target.resource.kind}List", "apiVersion": target.resource.api_version,
                        "metadata": {"resourceVersion": str(self.cluster.store.resource_version)}, "items": deleted})

    # --- scale ------------------------------------------------------------------------------
    async def scale(self, request: web.Request, target: Target) -> web.Response:
        namespace = target.namespace or ""
        current = self.cluster.get(target.resource, namespace, target.name or "")
        if request.method == "GET":
            return respond(scale_of(current))
        if request.method not in ("PUT", "PATCH"):
            raise method_not_allowed()
        options = Options.parse(request.query)
        if request.method == "PUT":
            wanted = await read_object(request, SCALE)
        else:
            kind = media_type(request)
            if kind not in patching.SUPPORTED:
                raise unsupported_media(kind, (patching.JSON_PATCH, patching.MERGE, patching.APPLY,
                                               patching.STRATEGIC))
            document = patching.parse_body(kind, await request.read())
            wanted = patching.apply_patch(kind, scale_of(current), document)
        replicas = (wanted.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid(SCALE, target.name or "",
                          [invalid_value("spec.replicas", str(replicas), "must be greater than or equal to 0")])
        updated = clone(current)
        updated["spec"]["replicas"] = replicas
        wanted_rv = (wanted.get("metadata") or {}).get("resourceVersion")
        updated["metadata"]["resourceVersion"] = wanted_rv or current["metadata"]["resourceVersion"]
        result = self.cluster.update(target.resource, updated, dry_run=options.dry_run,
                                     manager=options.manager(request), subresource="scale")
        return respond(scale_of(result))


def scale_of(obj: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale view of a deployment or replica set."""
    meta = obj["metadata"]
    selector = obj.get("spec", {}).get("selector") or {}
    status: Obj = {"replicas": obj.get("status", {}).get("replicas", 0), "selector": selector_string(selector)}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)}, "status": status}


def success(resource: Resource, deleted: Obj) -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": deleted["metadata"]["name"], "group": resource.group, "kind": resource.plural,
                        "uid": deleted["metadata"].get("uid")}}
