"""The app's endpoint table is the one docs/api-endpoints.md lists and the Klaviyo stand-in enforces."""
from __future__ import annotations

from pathlib import Path

from app.support import APP_SOURCE  # noqa: F401  (puts the app on sys.path)
from klaviyo_sync.endpoints import KLAVIYO_ENDPOINTS, OAUTH_SCOPES, required_scopes
from klaviyo_sync.install_pages import ROUTES
from pipeline.listing.markdown_tables import code, rows_with
from pipeline.sandbox.klaviyo import endpoints as stand_in

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api-endpoints.md").read_text()


def section(heading: str) -> str:
    return DOC.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]


def test_the_table_is_the_docs_app_rows_with_their_scopes():
    documented = {(r["method"], code(r["path"]).rstrip("/"), code(r["scope"]))
                  for r in rows_with(section("Klaviyo API"), "caller", "method", "path", "scope") if code(r["caller"]) == "app"}
    assert {(m, p, s) for m, p, s, _ in KLAVIYO_ENDPOINTS} == documented


def test_the_stand_in_needs_the_same_scope_for_each_call():
    for method, path, scope, _ in KLAVIYO_ENDPOINTS:
        assert stand_in.match(method, path)[0].scope == scope, path


def test_the_install_page_requests_exactly_the_needed_scopes():
    assert set(OAUTH_SCOPES) == required_scopes() and len(OAUTH_SCOPES) == len(set(OAUTH_SCOPES))
    requested = {code(r["scope"]) for r in rows_with(DOC, "scope", "needed for")}
    assert requested == set(OAUTH_SCOPES)


def test_the_merchant_pages_are_the_documented_ones():
    rows = rows_with(section("Merchant pages the app serves (OAuth mode)"), "caller", "method", "path")
    assert {(r["method"], code(r["path"])) for r in rows} == set(ROUTES)
