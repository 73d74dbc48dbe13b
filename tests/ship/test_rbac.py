"""k8s/rbac/rbac.yaml grants the pipeline every verb its code uses and nothing else.

The verbs are derived from the source of pipeline/ (the stand-ins excluded), not listed by hand:
- kubernetes client methods named ``<verb>_namespaced_<kind>`` (called or passed as a value, as
  the informer passes ``list_namespaced_pod``); ``connect_get_namespaced_pod_proxy*`` is the pod
  proxy; a module that streams a ``watch.Watch`` (or builds an ``Informer``) also watches every
  kind it lists;
- raw API paths (``/apis/<group>/<version>/namespaces/{namespace}/<resource>``) with the HTTP
  methods the module sends (GET get, POST create, PUT update, PATCH patch, DELETE delete);
- a module that addresses objects by manifest kind (``KIND_KEYS``: the first-release rollback)
  sends its HTTP methods to every kind in the manifests;
- the dynamic client: ``server_side_apply`` is patch, and create when the object is new, for every
  kind in the manifests (k8s/) and every ``kind="..."`` the module names; ``.get(name=...)`` is get.
"""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from pipeline.deploy.render import load_manifests

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "k8s" / "rbac" / "rbac.yaml"
PACKAGE = ROOT / "pipeline"
CLIENT_METHOD = re.compile(r"^(read|list|patch|create|replace|delete|connect_get|connect_post)_namespaced_([a-z_]+?)"
                           r"(_proxy(?:_with_path)?)?$")
RAW_PATH = re.compile(r"^/apis?/(?:([a-z0-9.-]+)/)?v[0-9a-z]+/namespaces/\{namespace\}/([a-z]+)"
                      r"(?:/\{[a-z_]+\}/([a-z]+))?")       # a subresource: pods/{name}/proxy
VERB_OF_METHOD = {"read": "get", "list": "list", "patch": "patch", "create": "create", "replace": "update",
                  "delete": "delete", "connect_get": "get", "connect_post": "create"}
VERB_OF_HTTP = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# snake-case kind in the client's method names -> (API group, resource)
KINDS = {"deployment": ("apps", "deployments"), "replica_set": ("apps", "replicasets"), "pod": ("", "pods"),
         "secret": ("", "secrets"), "service": ("", "services"), "config_map": ("", "configmaps"),
         "event": ("", "events"), "lease": ("coordination.k8s.io", "leases")}
# manifest kind -> (API group, resource)
MANIFEST_KINDS = {"Deployment": ("apps", "deployments"), "Service": ("", "services"), "Secret": ("", "secrets"),
                  "ConfigMap": ("", "configmaps")}

Grants = dict[tuple[str, str], set[str]]


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "sandbox" not in path.relative_to(PACKAGE).parts:
            yield path, ast.parse(path.read_text())


def derive() -> Grants:
    derived: Grants = defaultdict(set)
    manifest_kinds = {MANIFEST_KINDS[o["kind"]] for o in load_manifests(ROOT / "k8s")}
    for path, tree in modules():
        nodes = list(ast.walk(tree))
        attributes = [n.attr for n in nodes if isinstance(n, ast.Attribute)]
        strings = [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        watches = any(isinstance(n, ast.Attribute) and n.attr == "Watch" for n in nodes) or any(
            isinstance(n, ast.Name) and n.id == "Informer" for n in nodes)     # builds a shared informer
        for name in attributes:
            match = CLIENT_METHOD.match(name)
            if not match:
                continue
            verb, kind, proxy = match.groups()
            assert kind in KINDS, f"{path}: {name}: add the kind {kind!r} to KINDS"
            group, resource = KINDS[kind]
            derived[(group, resource + ("/proxy" if proxy else ""))].add(VERB_OF_METHOD[verb])
            if verb == "list" and watches:
                derived[(group, resource)].add("watch")
        for text in strings:
            raw = RAW_PATH.match(text)
            if raw:
                methods = {VERB_OF_HTTP[a.value] for n in nodes if isinstance(n, ast.Call) and n.args
                           for a in n.args[:1] if isinstance(a, ast.Constant) and a.value in VERB_OF_HTTP}
                resource = raw.group(2) + (f"/{raw.group(3)}" if raw.group(3) else "")
                derived[(raw.group(1) or "", resource)] |= methods
        if any(isinstance(n, ast.Name) and n.id == "KIND_KEYS" and isinstance(n.ctx, ast.Load) for n in nodes):
            # addresses objects by manifest kind (a failed first release's objects are deleted):
            # every HTTP method it sends applies to every kind the manifests hold
            methods = {VERB_OF_HTTP[a.value] for n in nodes if isinstance(n, ast.Call) and n.args
                       for a in n.args[:1] if isinstance(a, ast.Constant) and a.value in VERB_OF_HTTP}
            for kind in manifest_kinds:
                derived[kind] |= methods
        if "server_side_apply" in attributes:
            named = {MANIFEST_KINDS[k.value.value] for n in nodes if isinstance(n, ast.Call) for k in n.keywords
                     if k.arg == "kind" and isinstance(k.value, ast.Constant)}
            for kind in manifest_kinds | named:
                derived[kind] |= {"patch", "create"}
            if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get"
                   and any(k.arg == "name" for k in n.keywords) for n in nodes):
                for kind in manifest_kinds:
                    derived[kind].add("get")
    return dict(derived)


def documents() -> list[dict]:
    return [d for d in yaml.safe_load_all(RBAC.read_text()) if d]


def roles() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == "Role"}


def grants(role: dict) -> Grants:
    found: Grants = defaultdict(set)
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found[(group, resource)] |= set(rule["verbs"])
    return dict(found)


RECORDS = "klaviyo-pipeline-release-records"


def test_the_derivation_finds_what_the_pipeline_is_known_to_do():
    derived = derive()
    assert derived[("apps", "deployments")] >= {"get", "list", "watch", "patch"}
    # pipeline/lock.py, and pipeline/abort.py watching the deploy's own Lease for an abort request
    assert derived[("coordination.k8s.io", "leases")] == {"get", "create", "update", "list", "watch"}
    assert derived[("", "pods/proxy")] == {"get", "create"}     # health and scrapes; synthetic webhooks (POST)
    assert derived[("", "configmaps")] == {"get", "list", "create", "update", "delete"}   # release records
    assert derived[("", "pods")] >= {"list", "watch"}


def test_every_verb_the_code_uses_is_granted():
    granted: Grants = defaultdict(set)
    for role in roles().values():
        for key, verbs in grants(role).items():
            granted[key] |= verbs
    missing = {key: sorted(verbs - granted.get(key, set())) for key, verbs in derive().items()
               if verbs - granted.get(key, set())}
    assert not missing, f"the code uses verbs k8s/rbac/rbac.yaml does not grant: {missing}"


def test_no_role_grants_anything_the_code_does_not_use():
    derived = derive()
    for name, role in roles().items():
        extra = {key: sorted(verbs - derived.get(key, set())) for key, verbs in grants(role).items()
                 if verbs - derived.get(key, set())}
        assert not extra, f"k8s/rbac/rbac.yaml role {name} grants verbs no code uses: {extra}"


def test_the_release_record_rule_is_marked_and_limited_to_what_the_store_needs():
    role = roles()[RECORDS]
    assert role["metadata"]["annotations"]["klaviyo-pipeline/purpose"] == "release-records"
    assert grants(role) == {("", "configmaps"): {"create", "get", "list", "update", "delete"}}


def test_the_app_secret_can_be_read_and_changed_by_name_only():
    rules = [r for r in roles()["klaviyo-pipeline"]["rules"] if "secrets" in r["resources"]]
    for rule in rules:
        if set(rule["verbs"]) & {"get", "patch", "update", "list", "watch"}:
            assert rule.get("resourceNames") == ["klaviyo-sync-secrets"], rule
        else:
            assert rule["verbs"] == ["create"]         # a create cannot be limited to a name


def test_each_role_is_bound_to_the_pipeline_service_account_in_the_app_namespace():
    docs = documents()
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    bindings = {d["roleRef"]["name"]: d for d in docs if d["kind"] == "RoleBinding"}
    assert set(bindings) == set(roles())
    namespaces = {d["metadata"]["namespace"] for d in docs}
    assert namespaces == {"klaviyo-sync"}                # the namespace pipeline.toml gives staging and prod
    for binding in bindings.values():
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                        "namespace": "klaviyo-sync"}]
    assert all(d["apiVersion"] == "rbac.authorization.k8s.io/v1" for d in docs if d["kind"] != "ServiceAccount")


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_namespace_is_the_one_the_environments_deploy_to(env):
    from pipeline.config import load_config

    config = load_config(env, ROOT / "pipeline.toml", environ={})
    assert config.kube.namespace == "klaviyo-sync"
    if config.secrets.source == "kubernetes":
        assert config.secrets.path == "klaviyo-sync/klaviyo-sync-secrets"


def test_the_deploy_never_applies_the_rbac():
    """k8s/ is what every deploy applies: the pipeline must not be able to grant itself anything."""
    kinds = {o["kind"] for o in load_manifests(ROOT / "k8s")}
    assert not kinds & {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"}
