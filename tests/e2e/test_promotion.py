"""From merge to prod by one digest, on the sandbox: staging verifies a digest, prod takes exactly
that digest and refuses one staging never verified (the build step is replaced by a tag + digest,
as release.yml's build-push step would output). Each command runs as a process, as CI runs it."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client

from pipeline.config import load_config
from pipeline.kube.client import api_client
from pipeline.records import Records
from pipeline.sandbox.pipeline_toml import LOOPBACK_HTTPS, sandbox_toml, table

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ROLLOUT = {"gates": ["1", "100%"], "gate_verify_seconds": 6, "bake_seconds": 2, "progress_deadline_seconds": 20,
           "lock_seconds": 4, "scrape_interval_seconds": 1}
ENVIRONMENTS = f"""
[env.staging]
[env.staging.kube]
namespace = "promo-staging"
[env.staging.https]
{table(LOOPBACK_HTTPS)}
[env.prod]
promote_from = "staging"
[env.prod.kube]
namespace = "promo-prod"
[env.prod.https]
{table(LOOPBACK_HTTPS)}
"""


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def promotion(world, tmp_path):
    config = tmp_path / "pipeline.toml"
    config.write_text(sandbox_toml(ROOT, ROLLOUT, ["flag", "undo"], environments=ENVIRONMENTS))
    core = client.CoreV1Api(api_client(world.config().kube))
    existing = {ns.metadata.name for ns in core.list_namespace().items}
    for namespace in ("promo-staging", "promo-prod"):
        if namespace not in existing:
            core.create_namespace({"metadata": {"name": namespace}})
    env = {**os.environ, **world.environ, "CI": "true", "COLUMNS": "200"}

    def deploy(target: str, image: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "invoke", "deploy", "--env", target, "--image", image,
                               "--config", str(config), *extra], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
    deploy.config = config          # type: ignore[attr-defined]
    return deploy


def image_in(world, namespace: str) -> str:
    apps = client.AppsV1Api(api_client(world.config().kube))
    live = apps.read_namespaced_deployment("klaviyo-sync", namespace)
    return live.spec.template.spec.containers[0].image


def test_one_digest_goes_from_staging_to_prod_and_an_unpromoted_one_is_refused(world, promotion):
    verified = f"registry.example/klaviyo-sync:1.9.0@{digest('build 1')}"
    staged = promotion("staging", verified)
    assert staged.returncode == 0, staged.stdout + staged.stderr
    promoted = promotion("prod", verified)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "was verified in staging by the deploy of" in " ".join(promoted.stdout.split())
    assert image_in(world, "promo-prod") == verified

    never_staged = f"registry.example/klaviyo-sync:1.9.1@{digest('build 2')}"
    refused = promotion("prod", never_staged)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "nothing was changed" in " ".join(refused.stdout.split())
    assert image_in(world, "promo-prod") == verified

    by_tag = promotion("prod", "registry.example/klaviyo-sync:1.9.0")
    assert by_tag.returncode == 1 and "digest" in by_tag.stdout

    emergency = promotion("prod", never_staged, "--promotion-override", "hotfix for incident 9, staging is down")
    assert emergency.returncode == 0, emergency.stdout + emergency.stderr
    assert image_in(world, "promo-prod") == never_staged
    prod = load_config("prod", promotion.config, world.environ)      # type: ignore[attr-defined]
    newest = Records.for_environment(prod, api_client(prod.kube), None).facts().newest_deploy()
    assert newest is not None and newest.image == never_staged
    record = Records.for_environment(prod, api_client(prod.kube), None).view().documents[-1]
    validate = next(s for s in record["data"]["result"]["stages"] if s["name"] == "validate")
    assert validate["data"]["promotion"]["override_reason"] == "hotfix for incident 9, staging is down"
