"""The listing rows other than TLS and vulnerabilities, against the real app, docs and manifests."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from types import SimpleNamespace

import httpx

from app.support import AppProcess, base_env, free_port
from pipeline.config import OAuthSettings, load_config
from pipeline.listing.data_exchanged import data_row
from pipeline.listing.model import Verdict
from pipeline.listing.oauth_scopes import judge_authorize, oauth_row
from pipeline.listing.rate_limits import rate_row
from pipeline.listing.retention import RETENTION_SETTING, retention_row
from pipeline.sandbox.harness import Sandbox
from pipeline.sandbox.klaviyo import client_for

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples" / "klaviyo-sync"
DOCS = REPO / "docs"
ENV = {"KUBECONFIG": "/dev/null", "SANDBOX_KLAVIYO_URL": "http://127.0.0.1:1", "SANDBOX_STATUS_URL": "http://127.0.0.1:2",
       "SANDBOX_LAUNCHDARKLY_URL": "http://127.0.0.1:3"}


def local(**oauth):
    config = load_config("local", REPO / "pipeline.toml", environ=ENV)
    return dataclasses.replace(config, oauth=OAuthSettings(**oauth)) if oauth else config


def test_oauth_row_fails_in_private_key_mode():
    row = oauth_row(local(), APP, httpx.Client())
    assert row.verdict is Verdict.FAIL and "runs the app with a private key (oauth.enabled = false)" in row.detail
    assert "the app requests accounts:read events:write profiles:write" in row.detail


def test_oauth_row_checks_the_real_apps_install_redirect(tmp_path):
    with Sandbox(["klaviyo"]) as sb:
        port = free_port()
        client = client_for(sb.credentials.klaviyo_private_key)
        env = base_env(sb)
        del env["KLAVIYO_PRIVATE_KEY"]
        env.update(KLAVIYO_AUTH="oauth", KLAVIYO_OAUTH_CLIENT_ID=client.client_id,
                   KLAVIYO_OAUTH_CLIENT_SECRET=client.client_secret, APP_PUBLIC_URL=f"http://127.0.0.1:{port}",
                   KLAVIYO_TOKEN_KEYS="k1:" + "A" * 43 + "=", DATABASE_URL=f"sqlite:///{tmp_path / 't.db'}")
        app = AppProcess(env, tmp_path / "app.log", port).start()
        try:
            app.wait_ready()
            with httpx.Client(trust_env=False) as http:
                row = oauth_row(local(enabled=True, public_url=app.url), APP, http)
        finally:
            app.stop()
    assert row.verdict is Verdict.PASS, row.detail
    assert row.detail.startswith(f"{app.url}/install/start redirects to {sb.urls['klaviyo']}/oauth/authorize with "
                                 "PKCE S256, state and exactly the requested scopes")


def test_authorize_url_judgement():
    good = ("https://www.klaviyo.com/oauth/authorize?response_type=code&client_id=c&redirect_uri="
            "https%3A%2F%2Fapp.example%2Foauth%2Fcallback&scope=accounts%3Aread+events%3Awrite&state=s"
            "&code_challenge_method=S256&code_challenge=" + "x" * 43)
    assert judge_authorize(good, "https://app.example", ("accounts:read", "events:write")) == []
    problems = judge_authorize(good.replace("S256", "plain").replace("events%3Awrite", "events%3Awrite+lists%3Aread"),
                               "https://app.example", ("accounts:read", "events:write"))
    assert "code_challenge_method is 'plain', expected 'S256'" in problems
    assert "scope is 'accounts:read events:write lists:read', the app declares 'accounts:read events:write'" in problems


def test_data_row_passes_on_the_repository_and_fails_on_a_drifted_doc(tmp_path):
    assert data_row(APP, DOCS / "data-exchanged.md").verdict is Verdict.PASS
    drifted = tmp_path / "data-exchanged.md"
    text = (DOCS / "data-exchanged.md").read_text()
    drifted.write_text("\n".join(line for line in text.splitlines() if "`data.attributes.unique_id`" not in line))
    row = data_row(APP, drifted)
    assert row.verdict is Verdict.FAIL
    assert "/api/events sends undocumented data.attributes.unique_id" in row.detail


def test_data_row_says_why_when_the_app_cannot_run(tmp_path):
    broken = tmp_path / "app"
    shutil.copytree(APP, broken, ignore=shutil.ignore_patterns("__pycache__"))
    (broken / "klaviyo_sync" / "sync.py").write_text("raise ImportError('broken on purpose')\n")
    row = data_row(broken, DOCS / "data-exchanged.md")
    assert row.verdict is Verdict.NOT_CHECKED and "payload builders did not run" in row.detail


def test_retention_is_not_checked_without_a_setting_and_judged_with_one():
    row = retention_row(local())
    assert row.verdict is Verdict.NOT_CHECKED and RETENTION_SETTING in row.detail
    for days, verdict in ((365, Verdict.PASS), (90, Verdict.FAIL)):
        config = SimpleNamespace(name="prod", records=SimpleNamespace(retention_days=days))
        judged = retention_row(config)
        assert judged.verdict is verdict and f"env.prod.{RETENTION_SETTING} = {days} days" in judged.detail


def test_rate_row_on_the_repository_and_over_the_limit(tmp_path):
    row = rate_row(APP, REPO / "k8s", "klaviyo-sync", DOCS / "api-endpoints.md")
    assert row.verdict is Verdict.PASS, row.detail
    assert row.detail.startswith("/api/profile-import 240/min of 750/min, /api/events 240/min of 3500/min")
    manifests = tmp_path / "k8s"
    shutil.copytree(REPO / "k8s", manifests)
    deployment = manifests / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace("replicas: 4", "replicas: 20"))
    over = rate_row(APP, manifests, "klaviyo-sync", DOCS / "api-endpoints.md")
    assert over.verdict is Verdict.FAIL and "/api/profile-import 1200/min > 750/min" in over.detail
