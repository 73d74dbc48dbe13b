"""`invoke rollback --via flag,undo` against the kube and LaunchDarkly stand-ins together."""
from __future__ import annotations

import io
import json

import pytest
from kubernetes import client as kclient, config as kconfig
from rich.console import Console

from pipeline.cli.rollback import main, parse
from pipeline.exit_codes import ExitCode

from .conftest import Kube

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    from pipeline.sandbox.harness import Sandbox
    from pipeline.sandbox.supervisor import kubeconfig

    with Sandbox(["kube", "launchdarkly"]) as sandbox:
        if set(sandbox.urls) != {"kube", "launchdarkly"}:
            pytest.skip("the kube or LaunchDarkly stand-in is not there yet")
        path = tmp_path_factory.mktemp("e2e") / "kubeconfig"
        path.write_text(kubeconfig(sandbox.urls["kube"]))
        api = kconfig.new_client_from_config(str(path), persist_config=False)
        yield sandbox, Kube(sandbox.urls["kube"], path, kclient.AppsV1Api(api))
        api.close()


def test_flag_first_then_undo_all_verified(stand_ins, tmp_path, kubecache):
    sandbox, kube = stand_ins
    kube.history("e2e", "sim-sync:1.0", "sim-sync:1.1")
    ld = sandbox.urls["launchdarkly"]
    config = tmp_path / "pipeline.toml"
    config.write_text(f"""
[defaults]
[env.test]
[env.test.kube]
kubeconfig = "{kube.kubeconfig}"
deployment = "e2e"
[env.test.flags]
api_url = "{ld}"
stream_url = "{ld}"
events_url = "{ld}"
project = "klaviyo-sync"
environment = "local"
[env.test.https]
allow_http = ["flags.api_url", "flags.stream_url", "flags.events_url"]
reason = "the sandbox's stand-ins on loopback"
[env.test.rollback]
via = ["undo", "flag"]
""")
    environ = {**sandbox.env(), "PIPELINE_AUDIT_DIR": str(tmp_path / "audit")}
    out, err = io.StringIO(), io.StringIO()
    code = main(parse("test", yes=True, json=True, reason="p95 latency", config=str(config)), environ,
                Console(file=out, width=200), Console(file=err, width=200), False)
    document = json.loads(out.getvalue())
    assert code == ExitCode.OK, err.getvalue()
    assert [r["mechanism"] for r in document["results"]] == ["flag", "undo"]
    assert [r["outcome"] for r in document["results"]] == ["done", "done"]
    assert document["results"][1]["data"]["to_image"] == "sim-sync:1.0"
    assert kube.read("e2e")["spec"]["template"]["spec"]["containers"][0]["image"] == "sim-sync:1.0"
    from pipeline.records import Records
    from pipeline.records.cluster import ConfigMapDriver

    records = Records(ConfigMapDriver(kclient.ApiClient(kclient.Configuration(host=sandbox.urls["kube"])), "default"),
                      "klaviyo-sync", "test")
    [record] = records.view().documents                      # the rollback's record, in the cluster
    assert record["kind"] == "rollback" and document["audit_head"] == record["hash"]
    everything = out.getvalue() + err.getvalue() + json.dumps(record)
    for secret in (sandbox.credentials.launchdarkly_api_token, sandbox.credentials.launchdarkly_sdk_key):
        assert secret not in everything
