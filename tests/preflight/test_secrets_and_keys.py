"""secrets and hardcoded-keys: verdicts, and no secret value ever in a result, table or JSON."""
import dataclasses
import io

import pytest
from rich.console import Console

from pipeline.preflight.check import Verdict
from pipeline.preflight.checks.hardcoded_keys import scan_tree
from pipeline.preflight.report import render, to_json
from pipeline.secrets import MappingSource

PLANTED = "pk_" + "a1B2c3D4e5" * 3 + "f6G7"          # 34 alphanumerics after pk_
ONLY_SECRETS = ["status-page", "api-auth", "rate-limit", "sdk-pin", "revision", "hardcoded-keys"]
ONLY_KEYS = ["status-page", "api-auth", "rate-limit", "sdk-pin", "revision", "secrets"]


def source(**values):
    return MappingSource(values, "test source")


def everything_printed(report) -> str:
    buffer = io.StringIO()
    render(report, Console(file=buffer, width=300))
    return buffer.getvalue() + to_json(report) + repr(report)


def test_secrets_pass_in_the_sandbox(run, sb):
    report = run(skip=ONLY_SECRETS)
    result = report.result("secrets")
    assert result.verdict is Verdict.PASS
    assert result.detail == ("KLAVIYO_PRIVATE_KEY present, pk_ + 34 alphanumerics; KLAVIYO_WEBHOOK_SIGNING_SECRET "
                             "present (in environment variables)")
    printed = everything_printed(report)
    for value in (sb.credentials.klaviyo_private_key, sb.credentials.klaviyo_webhook_secret):
        assert value not in printed


def test_malformed_private_key_fails_without_showing_it(run):
    bad = "sk_" + "x" * 34
    report = run(skip=ONLY_SECRETS, source=source(KLAVIYO_PRIVATE_KEY=bad,
                                                  KLAVIYO_WEBHOOK_SIGNING_SECRET="whsec_0123456789abcdef"))
    result = report.result("secrets")
    assert result.verdict is Verdict.FAIL
    assert result.detail == ("KLAVIYO_PRIVATE_KEY is not a private key (expected pk_ followed by letters and "
                             "digits) (in test source)")
    assert bad not in everything_printed(report)


def test_missing_webhook_secret_and_bad_public_key_fail(run, config):
    cfg = dataclasses.replace(config, secrets=dataclasses.replace(config.secrets, public_key="KLAVIYO_PUBLIC_KEY"))
    report = run(cfg, skip=ONLY_SECRETS, source=source(KLAVIYO_PRIVATE_KEY=PLANTED, KLAVIYO_PUBLIC_KEY=PLANTED))
    result = report.result("secrets")
    assert result.verdict is Verdict.FAIL
    assert "KLAVIYO_WEBHOOK_SIGNING_SECRET is missing (webhook signatures cannot be verified)" in result.detail
    assert "KLAVIYO_PUBLIC_KEY holds a private key" in result.detail
    assert PLANTED not in everything_printed(report)


def test_public_key_checked_when_configured(run, config, sb):
    cfg = dataclasses.replace(config, secrets=dataclasses.replace(config.secrets, public_key="KLAVIYO_PUBLIC_KEY"))
    result = run(cfg, skip=ONLY_SECRETS).result("secrets")
    assert result.verdict is Verdict.PASS
    assert "KLAVIYO_PUBLIC_KEY present, 6 alphanumerics" in result.detail


def test_prod_secrets_from_environment_warn(run, config):
    prod = dataclasses.replace(config, name="prod")
    result = run(prod, skip=ONLY_SECRETS).result("secrets")
    assert result.verdict is Verdict.WARN
    assert "production secrets come from environment variables, not a secret manager" in result.detail


def test_unreadable_secret_source_is_an_error(run, config, monkeypatch):
    import pipeline.preflight.runner as runner

    def unreachable(_config):
        raise ConnectionError(f"cluster unreachable while reading {PLANTED}")
    monkeypatch.setattr(runner, "_configured_source", unreachable)
    report = run(skip=ONLY_SECRETS)
    result = report.result("secrets")
    assert result.verdict is Verdict.ERROR
    assert result.detail == "could not read env secret source: ConnectionError: cluster unreachable while reading pk_***"
    assert PLANTED not in everything_printed(report)


def test_hard_coded_key_fails_with_file_and_line_only(run, make_app):
    app = make_app({"requirements.txt": "klaviyo-api==25.0.0\n",
                    "src/client.py": f"import os\n\nKEY = '{PLANTED}'\n",
                    "tests/fixtures/fake.json": f'{{"key": "{PLANTED}"}}',
                    "src/test_client.py": f"K = '{PLANTED}'\n",
                    "node_modules/x/index.js": f"k='{PLANTED}'"})
    report = run(app=app, skip=ONLY_KEYS)
    result = report.result("hardcoded-keys")
    assert result.verdict is Verdict.FAIL
    assert result.detail == ("1 private-key-shaped string(s) (pk_ + 34 alphanumerics) outside test fixtures, "
                             "threshold 0: src/client.py:3; 2 in test fixtures, allowed")
    assert result.measured["locations"] == ["src/client.py:3"]
    assert PLANTED not in everything_printed(report)


def test_clean_tree_passes(run, make_app):
    app = make_app({"requirements.txt": "klaviyo-api==25.0.0\n", "src/a.py": "KEY_PREFIX = 'pk_'\n",
                    "img.bin": "\0" + PLANTED})
    result = run(app=app, skip=ONLY_KEYS).result("hardcoded-keys")
    assert result.verdict is Verdict.PASS
    assert result.detail == f"0 private-key-shaped strings in 2 files under {app} (threshold 0)"


def test_short_or_long_lookalikes_are_not_keys(make_app):
    app = make_app({"a.py": f"x = '{PLANTED}9'\ny = '{PLANTED[:-1]}'\nz = 'pk_test'\n"})
    assert scan_tree(app).hits == []


def test_scan_error_is_an_error(run, monkeypatch):
    import pipeline.preflight.checks.hardcoded_keys as module
    monkeypatch.setattr(module, "scan_tree", lambda root: (_ for _ in ()).throw(PermissionError("denied")))
    result = run(skip=ONLY_KEYS).result("hardcoded-keys")
    assert result.verdict is Verdict.ERROR
    assert result.detail == "could not run: PermissionError: denied"
