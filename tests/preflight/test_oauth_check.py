"""Preflight's ``oauth`` check: client credentials and requested scopes vs the endpoints' scopes."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.config import OAuthSettings, SecretSettings
from pipeline.preflight import run_preflight
from pipeline.preflight.check import Verdict
from pipeline.preflight.checks.oauth import (AppDeclaration, DeclarationError, OAuthCheck, evaluate_oauth,
                                             read_declaration)
from pipeline.sandbox.klaviyo import client_for
from pipeline.secrets import MappingSource, Secret

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples" / "klaviyo-sync"
NAMES = SecretSettings()
ENDPOINTS = (("GET", "/api/accounts", "accounts:read", "probe"), ("POST", "/api/events", "events:write", "sync"))
GOOD_ID, GOOD_SECRET = Secret("id", "sbx-app-0123456789"), Secret("s", "sbx-secret-0123456789abcdef")


def app_with(make_app, endpoints=ENDPOINTS, scopes=("accounts:read", "events:write")) -> Path:
    return make_app({"requirements.txt": "klaviyo-api==25.0.0\n",
                     "pkg/endpoints.py": f"KLAVIYO_ENDPOINTS = {endpoints!r}\nOAUTH_SCOPES = {scopes!r}\n"})


def test_the_sample_apps_declaration_is_read_without_importing_it():
    declared = read_declaration(APP)
    assert declared.file == "klaviyo_sync/endpoints.py"
    assert declared.requested == ("accounts:read", "events:write", "profiles:write")
    assert declared.needed == {"accounts:read", "events:write", "profiles:write"}
    assert declared.extra == [] and declared.missing == []


def test_pass_names_settings_never_values():
    finding = evaluate_oauth(GOOD_ID, GOOD_SECRET, NAMES, AppDeclaration("e.py", ENDPOINTS, ("accounts:read", "events:write")),
                             "environment variables")
    assert finding.verdict is Verdict.PASS
    assert finding.detail == ("KLAVIYO_OAUTH_CLIENT_ID and KLAVIYO_OAUTH_CLIENT_SECRET present and well formed (in "
                              "environment variables); scopes requested = scopes its 2 endpoints need: "
                              "accounts:read events:write (e.py)")
    assert GOOD_SECRET.reveal() not in finding.detail and GOOD_ID.reveal() not in finding.detail


@pytest.mark.parametrize("cid, secret, message", [
    (None, GOOD_SECRET, "KLAVIYO_OAUTH_CLIENT_ID missing in env"),
    (GOOD_ID, None, "KLAVIYO_OAUTH_CLIENT_SECRET missing in env"),
    (Secret("id", "has space in it"), GOOD_SECRET, "KLAVIYO_OAUTH_CLIENT_ID is not a client id"),
    (GOOD_ID, Secret("s", "short"), "KLAVIYO_OAUTH_CLIENT_SECRET must be at least 16 characters"),
    (GOOD_ID, Secret("s", "pk_" + "a" * 34), "holds the client id or a private key"),
    (GOOD_ID, Secret("s", GOOD_ID.reveal()), "holds the client id or a private key"),
])
def test_bad_credentials_fail_by_name(cid, secret, message):
    declared = AppDeclaration("e.py", ENDPOINTS, ("accounts:read", "events:write"))
    finding = evaluate_oauth(cid, secret, NAMES, declared, "env")
    assert finding.verdict is Verdict.FAIL and message in finding.detail
    for value in (cid, secret):
        assert value is None or value.reveal() not in finding.detail


def test_extra_and_missing_scopes_fail(make_app):
    extra = read_declaration(app_with(make_app, scopes=("accounts:read", "events:write", "lists:read")))
    finding = evaluate_oauth(GOOD_ID, GOOD_SECRET, NAMES, extra, "env")
    assert finding.verdict is Verdict.FAIL
    assert "the app requests scope(s) no endpoint needs: lists:read" in finding.detail
    missing = read_declaration(app_with(make_app, scopes=("accounts:read",)))
    finding = evaluate_oauth(GOOD_ID, GOOD_SECRET, NAMES, missing, "env")
    assert "the app's endpoints need scope(s) it does not request: events:write" in finding.detail


def test_an_app_without_a_declaration_is_an_error_not_a_pass(make_app):
    with pytest.raises(DeclarationError, match="assigns both KLAVIYO_ENDPOINTS and OAUTH_SCOPES"):
        read_declaration(make_app({"app.py": "print('hi')\n"}))
    computed = make_app({"e.py": "KLAVIYO_ENDPOINTS = tuple(x for x in [])\nOAUTH_SCOPES = ()\n"}, name="computed")
    with pytest.raises(DeclarationError, match="must be a plain literal"):
        read_declaration(computed)
    finding = evaluate_oauth(GOOD_ID, GOOD_SECRET, NAMES, "no file", "env")
    assert finding.verdict is Verdict.ERROR and "scopes not compared: no file" in finding.detail


def with_oauth(config, enabled: bool = True):
    return dataclasses.replace(config, oauth=OAuthSettings(enabled=enabled))


def test_in_preflight_with_the_sandboxs_oauth_app(config, sb):
    """The sandbox publishes its registered OAuth app's credentials; the sample app declares its scopes."""
    client = client_for(sb.credentials.klaviyo_private_key)
    assert config.variables["KLAVIYO_OAUTH_CLIENT_ID"] == client.client_id
    report = run_preflight(with_oauth(config), checks=[OAuthCheck()], app_source=APP)
    result = report.result("oauth")
    assert result.verdict is Verdict.PASS, result.detail
    assert result.measured["requested"] == ["accounts:read", "events:write", "profiles:write"]
    assert client.client_secret not in str(report.to_dict())


def test_skipped_in_private_key_mode(config):
    result = run_preflight(with_oauth(config, False), checks=[OAuthCheck()], app_source=APP).result("oauth")
    assert result.verdict is Verdict.SKIPPED and "oauth.enabled = false" in result.detail


def test_missing_credentials_in_the_source_fail(config, make_app):
    source = MappingSource({"KLAVIYO_PRIVATE_KEY": "pk_" + "a" * 34}, "file creds.env")
    result = run_preflight(with_oauth(config), checks=[OAuthCheck()], source=source, app_source=APP).result("oauth")
    assert result.verdict is Verdict.FAIL
    assert result.detail.startswith("KLAVIYO_OAUTH_CLIENT_ID and KLAVIYO_OAUTH_CLIENT_SECRET missing in file creds.env")


def test_oauth_is_a_registered_check():
    from pipeline.preflight.checks import CHECK_NAMES
    assert CHECK_NAMES[-1] == "oauth"
