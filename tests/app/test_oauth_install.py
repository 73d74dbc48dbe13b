"""End to end: a merchant installs klaviyo-sync into the Klaviyo stand-in through OAuth (PKCE).

The app runs as a real process (``python -m klaviyo_sync``, KLAVIYO_AUTH=oauth); a browser is
played by an httpx client that follows redirects and keeps cookies. Then the app syncs profiles
and events with the access token through the official SDK, survives an access token that
Klaviyo expired by refreshing it, and stops cleanly once the merchant revokes it. The token
rows are read back from the database (SQLite and a real PostgreSQL server) as ciphertext.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
from klaviyo_api import KlaviyoAPI
from sqlalchemy import text

from app.support import base_env, free_port, metric, wait_for
from klaviyo_sync.crypto import Keyring, new_key
from klaviyo_sync.db import engine_for
from pipeline.listing.markdown_tables import code, rows_with
from pipeline.sandbox.klaviyo import client_for
from pipeline.verify.health import judge_health
from pipeline.verify.podproxy import ProxyResponse

KEY = new_key()
DOC = (Path(__file__).resolve().parents[2] / "docs" / "api-endpoints.md").read_text()
CALLER_SCHEME = {"browser": "none", "app": "Basic"}   # how each documented caller authenticates


def documented_oauth_calls() -> set[tuple[str, str, str]]:
    part = DOC.split("## Klaviyo OAuth", 1)[1].split("\n## ", 1)[0]
    return {(CALLER_SCHEME[code(r["caller"])], r["method"], code(r["path"]))
            for r in rows_with(part, "caller", "method", "path")}


def oauth_env(sb, port: int, database_url: str, **extra: str) -> dict[str, str]:
    env = base_env(sb)
    del env["KLAVIYO_PRIVATE_KEY"]
    client = client_for(sb.credentials.klaviyo_private_key)
    env.update({"KLAVIYO_AUTH": "oauth", "KLAVIYO_OAUTH_CLIENT_ID": client.client_id,
                "KLAVIYO_OAUTH_CLIENT_SECRET": client.client_secret,
                "APP_PUBLIC_URL": f"http://127.0.0.1:{port}", "KLAVIYO_TOKEN_KEYS": f"k1:{KEY}",
                "DATABASE_URL": database_url, "SYNC_INTERVAL_SECONDS": "0.2", **extra})
    return env


def install(app_url: str) -> tuple[httpx.Client, httpx.Response]:
    """The merchant: install page -> Connect -> Klaviyo consents -> back to the app's settings."""
    browser = httpx.Client(follow_redirects=True, timeout=20, trust_env=False)
    page = browser.get(app_url + "/install")
    assert page.status_code == 200 and "accounts:read events:write profiles:write" in page.text
    link = re.search(r'href="([^"]+)">Connect Klaviyo', page.text).group(1)
    settings = browser.get(app_url + link)
    hops = [str(r.url).split("?")[0] for r in settings.history]
    assert hops[0].endswith("/install/start") and hops[1].endswith("/oauth/authorize")
    assert hops[2].endswith("/oauth/callback"), hops
    assert settings.status_code == 200 and str(settings.url).endswith("/settings"), settings.text
    return browser, settings


def klaviyo_log(sb) -> list[dict]:
    return httpx.get(sb.urls["klaviyo"] + "/_sandbox/requests", trust_env=False).json()["requests"]


def api_calls(sb) -> list[dict]:
    return [r for r in klaviyo_log(sb) if r["path"].startswith("/api/")]


def stored_row(database_url: str) -> dict:
    with engine_for(database_url).connect() as conn:
        return dict(conn.execute(text("SELECT * FROM installations")).one()._mapping)


def health(app) -> dict:
    return app.get("/health").json()


def test_install_sync_refresh_and_revocation(klaviyo_sandbox, run_app, database_url):
    sb = klaviyo_sandbox
    port = free_port()
    app = run_app(oauth_env(sb, port, database_url), port=port).wait_ready()
    assert health(app)["services"]["klaviyo"]["checkedBy"] == "none"          # nothing installed yet

    browser, settings = install(app.url)
    account = sb.credentials.klaviyo_public_key
    assert f'<code id="account">{account}</code>' in settings.text

    # syncing with the access token, through the SDK
    wait_for(lambda: len([r for r in api_calls(sb) if r["path"] == "/api/events"]) >= 2, "events", process=app)
    seen = api_calls(sb)
    assert {r["auth_scheme"] for r in seen} == {"Bearer"}
    assert {r["user_agent"].split("/")[0] for r in seen} == {"klaviyo-api-python"}
    data = httpx.get(sb.urls["klaviyo"] + "/_sandbox/data", trust_env=False).json()
    assert data["profiles"] and {e["metric"] for e in data["events"]} == {"Klaviyo Sync Heartbeat"}

    # the token row is ciphertext; decrypted, it is the token Klaviyo accepts
    row = stored_row(database_url)
    assert row["account_id"] == account and row["status"] == "active"
    ring = Keyring.parse(f"k1:{KEY}")
    access = ring.decrypt(row["access_token"], f"installations/{account}/access_token")
    refresh = ring.decrypt(row["refresh_token"], f"installations/{account}/refresh_token")
    assert row["access_token"].startswith("v1.k1.") and access not in row["access_token"]
    assert refresh not in row["refresh_token"] and access not in app.output() and refresh not in app.output()
    assert KlaviyoAPI(None, access_token=access, test_host=sb.urls["klaviyo"]).Accounts.get_accounts().data

    # Klaviyo expires the access token: a 401, one refresh at the token endpoint, then 2xx again
    mark = len(klaviyo_log(sb))
    httpx.post(sb.urls["klaviyo"] + "/_sandbox/oauth/expire", trust_env=False).raise_for_status()
    wait_for(lambda: any(r["path"] == "/oauth/token" for r in klaviyo_log(sb)[mark:]) and
             any(r["path"] == "/api/events" and r["status"] == 202
                 for r in klaviyo_log(sb)[mark:][-3:]), "a refresh and events again", process=app)
    after = klaviyo_log(sb)[mark:]
    assert 401 in [r["status"] for r in after]
    assert [(r["auth_scheme"], r["status"]) for r in after if r["path"] == "/oauth/token"] == [("Basic", 200)]
    assert health(app)["status"] == "healthy"

    # the merchant removes the app in Klaviyo: the next refresh is refused, the app stops cleanly
    httpx.post(sb.urls["klaviyo"] + "/_sandbox/oauth/grants/revoke", trust_env=False).raise_for_status()
    httpx.post(sb.urls["klaviyo"] + "/_sandbox/oauth/expire", trust_env=False).raise_for_status()
    wait_for(lambda: health(app)["services"]["klaviyo"]["tokens"]["active"] == 0, "installation ended", process=app)
    calls = len(api_calls(sb))
    idle = app.wait_metric("klaviyo_sync_cycles_total", 1, result="idle")
    app.wait_metric("klaviyo_sync_cycles_total", idle + 3, result="idle")
    assert len(api_calls(sb)) == calls                      # no Klaviyo call for the revoked account
    body = health(app)
    assert (body["status"], body["services"]["klaviyo"]["checkedBy"]) == ("healthy", "none")
    row = stored_row(database_url)
    assert (row["status"], row["access_token"], row["refresh_token"]) == ("revoked", None, None)
    assert browser.get(app.url + "/settings").status_code == 401   # the session ended with the grant
    assert " ERROR " not in app.output().split("installation ended")[-1]


def test_uninstall_from_the_settings_page_revokes_at_klaviyo(klaviyo_sandbox, run_app, tmp_path):
    sb = klaviyo_sandbox
    port, url = free_port(), f"sqlite:///{tmp_path / 'tokens.db'}"
    app = run_app(oauth_env(sb, port, url), port=port).wait_ready()
    browser, settings = install(app.url)
    csrf = html.unescape(re.search(r'name="csrf" value="([^"]+)"', settings.text).group(1))

    forged = browser.post(app.url + "/uninstall", data={"csrf": "forged"})
    assert forged.status_code == 401
    paused = browser.post(app.url + "/settings", data={"csrf": csrf, "sync": "off"})
    assert paused.status_code == 200 and '<span id="sync">off</span>' in paused.text

    done = browser.post(app.url + "/uninstall", data={"csrf": csrf})
    assert done.status_code == 200 and "revoked at Klaviyo" in done.text
    grants = httpx.get(sb.urls["klaviyo"] + "/_sandbox/oauth/grants", trust_env=False).json()["grants"]
    assert [g["revoked"] for g in grants] == [True]
    assert [r["auth_scheme"] for r in klaviyo_log(sb) if r["path"] == "/oauth/revoke"] == ["Basic"]
    assert stored_row(url)["status"] == "uninstalled" and stored_row(url)["access_token"] is None
    assert browser.get(app.url + "/settings").status_code == 401

    _, again = install(app.url)                                      # a reinstall: still one row
    assert stored_row(url)["status"] == "active"
    seen = {(r["auth_scheme"], r["method"], r["path"]) for r in klaviyo_log(sb) if r["path"].startswith("/oauth/")}
    assert seen == documented_oauth_calls()                          # docs/api-endpoints.md, Klaviyo OAuth


def test_a_second_install_of_the_same_account_replaces_the_first(klaviyo_sandbox, run_app, tmp_path):
    sb = klaviyo_sandbox
    port, url = free_port(), f"sqlite:///{tmp_path / 'tokens.db'}"
    app = run_app(oauth_env(sb, port, url), port=port).wait_ready()
    install(app.url)
    first = stored_row(url)["refresh_token"]
    install(app.url)
    with engine_for(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM installations")).scalar() == 1
    assert stored_row(url)["refresh_token"] != first


def test_health_reports_token_trouble_as_such(klaviyo_sandbox, run_app, tmp_path):
    """Tokens that expired and cannot be refreshed (here: a wrong client secret after a restart)."""
    sb = klaviyo_sandbox
    port, url = free_port(), f"sqlite:///{tmp_path / 'tokens.db'}"
    first = run_app(oauth_env(sb, port, url), port=port).wait_ready()
    install(first.url)
    first.stop()
    broken = run_app(oauth_env(sb, port, url, KLAVIYO_OAUTH_CLIENT_SECRET="sbx-secret-wrong"), port=port).wait_ready()
    httpx.post(sb.urls["klaviyo"] + "/_sandbox/oauth/expire", trust_env=False).raise_for_status()
    answer = wait_for(lambda: (r := broken.get("/health")).status_code == 503
                      and r.json()["services"]["klaviyo"]["tokens"]["problems"] and r, "/health 503", process=broken)
    body = answer.json()
    klaviyo = body["services"]["klaviyo"]
    assert body["status"] == "down" and klaviyo["checkedBy"] == "tokens"
    assert klaviyo["error"].startswith("OAuth token trouble: account ") and "invalid_client" in klaviyo["error"]
    assert klaviyo["tokens"]["active"] == 1 and len(klaviyo["tokens"]["problems"]) == 1
    verdict = judge_health("klaviyo-sync-abc", ProxyResponse(answer.status_code, answer.text, ""))
    assert not verdict.passed and "OAuth token trouble" in verdict.detail
    assert metric(broken.metrics(), "klaviyo_sync_cycles_total", result="failed") >= 1


def test_oauth_mode_refuses_bad_configuration(klaviyo_sandbox, run_app, tmp_path):
    sb = klaviyo_sandbox
    port = free_port()
    env = oauth_env(sb, port, f"sqlite:///{tmp_path / 't.db'}", APP_PUBLIC_URL="http://sync.example.com")
    app = run_app(env, port=port)
    assert app.proc.wait(timeout=20) == 2
    assert "APP_PUBLIC_URL='http://sync.example.com' is invalid: OAuth redirects and sessions need https://" in app.output()
    bad_keys = run_app(oauth_env(sb, port, f"sqlite:///{tmp_path / 't.db'}", KLAVIYO_TOKEN_KEYS="k1:short"), port=port)
    assert bad_keys.proc.wait(timeout=20) == 2 and "KLAVIYO_TOKEN_KEYS entry 1" in bad_keys.output()
    assert "short" not in bad_keys.output().split("KLAVIYO_TOKEN_KEYS entry 1")[1].splitlines()[0]
