"""The stand-in's OAuth judged by a standard client (authlib), then used through the official SDK.

authlib builds the authorize URL with PKCE (S256), exchanges the code with HTTP Basic client
credentials, refreshes and revokes; the bearer token then goes through ``KlaviyoAPI(None,
access_token=...)`` as a real integration would call Klaviyo.
"""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import ForbiddenException, UnauthorizedException

from pipeline.sandbox.klaviyo import client_for
from tests.sandbox_klaviyo.support import requests_seen, scenario

REDIRECT = "https://app.example/oauth/callback"
SCOPES = "accounts:read events:write profiles:write"
EVENT = {"data": {"type": "event", "attributes": {
    "properties": {"n": 1}, "unique_id": "e-1",
    "metric": {"data": {"type": "metric", "attributes": {"name": "OAuth Test"}}},
    "profile": {"data": {"type": "profile", "attributes": {"email": "oauth@example.com"}}}}}}


@pytest.fixture
def oauth_app(sandbox, klaviyo):
    """A fresh authlib session for the sandbox's registered OAuth app; grants forgotten first."""
    httpx.delete(klaviyo + "/_sandbox/oauth/grants").raise_for_status()
    client = client_for(sandbox.credentials.klaviyo_private_key)

    def session(scope: str = SCOPES, auth: str = "client_secret_basic") -> OAuth2Session:
        return OAuth2Session(client.client_id, client.client_secret, scope=scope, redirect_uri=REDIRECT,
                             code_challenge_method="S256", token_endpoint_auth_method=auth)
    return session


def consent(klaviyo: str, session: OAuth2Session, verifier: str) -> str:
    """The merchant's browser: open the authorize URL, return where Klaviyo redirects it."""
    url, _ = session.create_authorization_url(klaviyo + "/oauth/authorize", code_verifier=verifier)
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def install(klaviyo: str, session: OAuth2Session) -> dict:
    verifier = generate_token(64)
    location = consent(klaviyo, session, verifier)
    return session.fetch_token(klaviyo + "/oauth/token", authorization_response=location, code_verifier=verifier)


def sdk(klaviyo: str, token: str) -> KlaviyoAPI:
    return KlaviyoAPI(None, access_token=token, test_host=klaviyo, max_retries=1)


def test_pkce_install_then_the_sdk_calls_with_the_access_token(klaviyo, oauth_app):
    token = install(klaviyo, oauth_app())
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert set(token["scope"].split()) == set(SCOPES.split()) and token["refresh_token"]
    api = sdk(klaviyo, token["access_token"])
    assert api.Accounts.get_accounts().data
    api.Events.create_event(EVENT)
    seen = requests_seen(klaviyo)
    assert [(r["method"], r["path"], r["auth_scheme"], r["status"]) for r in seen] == [
        ("GET", "/oauth/authorize", "none", 302), ("POST", "/oauth/token", "Basic", 200),
        ("GET", "/api/accounts", "Bearer", 200), ("POST", "/api/events", "Bearer", 202)]
    raw = httpx.get(klaviyo + "/_sandbox/requests").text + httpx.get(klaviyo + "/_sandbox/oauth/grants").text
    assert token["access_token"] not in raw and token["refresh_token"] not in raw


def test_a_wrong_code_verifier_is_refused(klaviyo, oauth_app):
    session = oauth_app()
    location = consent(klaviyo, session, generate_token(64))
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(klaviyo + "/oauth/token", authorization_response=location,
                            code_verifier=generate_token(64))
    assert refused.value.error == "invalid_grant"


def test_a_code_is_good_once(klaviyo, oauth_app):
    session, verifier = oauth_app(), generate_token(64)
    location = consent(klaviyo, session, verifier)
    session.fetch_token(klaviyo + "/oauth/token", authorization_response=location, code_verifier=verifier)
    with pytest.raises(OAuthError) as again:
        oauth_app().fetch_token(klaviyo + "/oauth/token", authorization_response=location, code_verifier=verifier)
    assert again.value.error == "invalid_grant"


def test_client_credentials_must_come_as_http_basic(klaviyo, oauth_app):
    session, verifier = oauth_app(), generate_token(64)
    location = consent(klaviyo, session, verifier)
    post = oauth_app(auth="client_secret_post")
    with pytest.raises(OAuthError) as refused:
        post.fetch_token(klaviyo + "/oauth/token", authorization_response=location, code_verifier=verifier)
    assert refused.value.error == "invalid_client"
    wrong = OAuth2Session(post.client_id, "not-the-secret", redirect_uri=REDIRECT)
    with pytest.raises(OAuthError) as bad_secret:
        wrong.fetch_token(klaviyo + "/oauth/token", authorization_response=location, code_verifier=verifier)
    assert bad_secret.value.error == "invalid_client"


def test_authorize_without_pkce_redirects_an_error(klaviyo, oauth_app):
    session = OAuth2Session(oauth_app().client_id, scope=SCOPES, redirect_uri=REDIRECT)  # no PKCE
    url, state = session.create_authorization_url(klaviyo + "/oauth/authorize")
    query = parse_qs(urlsplit(httpx.get(url).headers["Location"]).query)
    assert query["error"] == ["invalid_request"] and query["state"] == [state]


def test_unknown_client_gets_no_redirect(klaviyo):
    response = httpx.get(klaviyo + "/oauth/authorize", params={
        "response_type": "code", "client_id": "nobody", "redirect_uri": REDIRECT, "scope": SCOPES,
        "code_challenge": "x" * 43, "code_challenge_method": "S256"})
    assert response.status_code == 400 and "Location" not in response.headers


def test_the_merchant_can_deny(klaviyo, oauth_app):
    scenario(klaviyo, {"oauth_deny": True})
    query = parse_qs(urlsplit(consent(klaviyo, oauth_app(), generate_token(64))).query)
    assert query["error"] == ["access_denied"]


def test_expired_access_token_gets_klaviyos_401_and_a_refresh_works(klaviyo, oauth_app, clock):
    scenario(klaviyo, {"oauth_token_seconds": 60})
    session = oauth_app()
    token = install(klaviyo, session)
    assert token["expires_in"] == 60
    assert sdk(klaviyo, token["access_token"]).Accounts.get_accounts().data
    clock.now += 61
    with pytest.raises(UnauthorizedException) as expired:
        sdk(klaviyo, token["access_token"]).Accounts.get_accounts()
    error = json.loads(expired.value.body)["errors"][0]
    assert (error["status"], error["code"]) == (401, "authentication_failed")
    assert {"id", "title", "detail", "source"} <= set(error)
    fresh = session.refresh_token(klaviyo + "/oauth/token", refresh_token=token["refresh_token"])
    assert fresh["access_token"] != token["access_token"]
    assert sdk(klaviyo, fresh["access_token"]).Accounts.get_accounts().data


def test_expire_route_ends_every_access_token(klaviyo, oauth_app):
    token = install(klaviyo, oauth_app())
    assert httpx.post(klaviyo + "/_sandbox/oauth/expire").json() == {"expired": 1}
    with pytest.raises(UnauthorizedException):
        sdk(klaviyo, token["access_token"]).Accounts.get_accounts()


def test_scopes_are_enforced_per_endpoint_in_klaviyos_error_shape(klaviyo, oauth_app):
    token = install(klaviyo, oauth_app(scope="accounts:read"))
    api = sdk(klaviyo, token["access_token"])
    assert api.Accounts.get_accounts().data
    with pytest.raises(ForbiddenException) as refused:
        api.Events.create_event(EVENT)
    error = json.loads(refused.value.body)["errors"][0]
    assert (error["status"], error["code"]) == (403, "permission_denied")
    assert "events:write" in error["detail"] and error["source"] == {"pointer": "/data/"}


def test_revoking_the_refresh_token_ends_the_install(klaviyo, oauth_app):
    session = oauth_app()
    token = install(klaviyo, session)
    revoked = session.revoke_token(klaviyo + "/oauth/revoke", token=token["refresh_token"],
                                   token_type_hint="refresh_token")
    assert revoked.status_code == 200
    with pytest.raises(UnauthorizedException):
        sdk(klaviyo, token["access_token"]).Accounts.get_accounts()
    with pytest.raises(OAuthError) as refused:
        session.refresh_token(klaviyo + "/oauth/token", refresh_token=token["refresh_token"])
    assert refused.value.error == "invalid_grant"
    grants = httpx.get(klaviyo + "/_sandbox/oauth/grants").json()["grants"]
    assert [(g["revoked"], g["access_tokens_live"]) for g in grants] == [(True, 0)]


def test_revoking_one_access_token_keeps_the_grant(klaviyo, oauth_app):
    session = oauth_app()
    token = install(klaviyo, session)
    session.revoke_token(klaviyo + "/oauth/revoke", token=token["access_token"], token_type_hint="access_token")
    with pytest.raises(UnauthorizedException):
        sdk(klaviyo, token["access_token"]).Accounts.get_accounts()
    fresh = session.refresh_token(klaviyo + "/oauth/token", refresh_token=token["refresh_token"])
    assert sdk(klaviyo, fresh["access_token"]).Accounts.get_accounts().data
