"""docs/klaviyo-listing.md: the merchant's workflow is the app's real flow; every listing row is cited."""
from __future__ import annotations

import re
from pathlib import Path

from app.support import APP_SOURCE  # noqa: F401  (puts the app on sys.path)
from klaviyo_sync.endpoints import KLAVIYO_ENDPOINTS, OAUTH_SCOPES
from klaviyo_sync.install_pages import ROUTES
from pipeline.listing.markdown_tables import rows_with
from pipeline.listing.runner import ROW_NAMES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "klaviyo-listing.md").read_text()
WORKFLOW = re.findall(r"```mermaid\n(.*?)```", DOC, re.S)[0]
MERCHANT, OPERATOR = WORKFLOW.split('subgraph operator', 1)


def test_the_two_workflows_sit_side_by_side_in_one_diagram():
    assert 'subgraph merchant["Merchant: install, configure, use' in MERCHANT
    assert "invoke deploy" in OPERATOR and "invoke rollback" in OPERATOR and "invoke listing" in OPERATOR


def test_the_merchant_path_names_every_page_the_app_serves():
    for method, path in ROUTES:
        assert f"{method} {path}" in MERCHANT, f"the merchant workflow has no {method} {path}"


def test_the_merchant_path_shows_the_oauth_calls_scopes_and_sync_calls():
    for call in ("GET /oauth/authorize", "POST /oauth/token", "POST /oauth/revoke", "PKCE S256"):
        assert call in MERCHANT, call
    assert " ".join(OAUTH_SCOPES) in MERCHANT
    for method, path, _, _ in KLAVIYO_ENDPOINTS:
        assert f"{method} {path}" in MERCHANT, path


def test_every_listing_row_is_cited_and_what_software_cannot_do_is_said():
    requirements = rows_with(DOC, "requirement", "status", "evidence")
    evidence = " ".join(r["evidence"] for r in requirements)
    for row in ROW_NAMES:
        assert f"`{row}`" in evidence, f"listing row {row} is cited by no requirement"
    status = {r["requirement"]: r["status"] for r in requirements}
    assert status["MFA for the third party's systems"] == "not software"
    assert status["Pass a security review; company, app and use cases true and complete"] == "not software"
    assert {s for s in status.values()} <= {"met (checked)", "met (documented)", "partly", "not met here", "not software"}
