"""The vulnerabilities row: the real pip-audit against an OSV database file, or plainly "not checked"."""
from __future__ import annotations

import json
import socket
import zipfile

import pytest

from pipeline.listing.model import Verdict
from pipeline.listing.vulnerabilities import affects, audit, load_osv, vulnerability_row

REQUESTS_HIGH = {
    "id": "GHSA-x84v-xcm2-53pg", "aliases": ["CVE-2018-18074"], "summary": "Proxy-Authorization leaked on redirect",
    "database_specific": {"severity": "HIGH"},
    "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}]}]}
HTTPX_LOW = {
    "id": "GHSA-test-low1-0001", "summary": "a low one", "database_specific": {"severity": "LOW"},
    "affected": [{"package": {"ecosystem": "PyPI", "name": "httpx"}, "versions": ["0.28.1"]}]}


@pytest.fixture
def app(tmp_path):
    root = tmp_path / "app"
    root.mkdir()
    (root / "requirements.txt").write_text("httpx==0.28.1\nrequests==2.19.0\n")
    return root


def db(tmp_path, *records, name="osv.json"):
    path = tmp_path / name
    path.write_text(json.dumps(list(records)))
    return path


def test_a_high_vulnerability_fails_the_row(app, tmp_path):
    row = vulnerability_row(app, db(tmp_path, REQUESTS_HIGH, HTTPX_LOW))
    assert row.verdict is Verdict.FAIL
    assert row.detail.startswith("1 critical/high (or unrated) in 2 pinned packages of ")
    assert "requests 2.19.0 GHSA-x84v-xcm2-53pg (high; fixed in 2.20.0)" in row.detail
    assert "httpx 0.28.1 GHSA-test-low1-0001 (low)" in row.measured["findings"]


def test_a_clean_database_passes_and_lists_the_low_ones(app, tmp_path):
    (app / "requirements.txt").write_text("httpx==0.28.1\nrequests==2.32.3\n")
    row = vulnerability_row(app, db(tmp_path, REQUESTS_HIGH, HTTPX_LOW))
    assert row.verdict is Verdict.PASS
    assert "no critical or high vulnerability in 2 pinned packages" in row.detail
    assert "not blocking: httpx 0.28.1 GHSA-test-low1-0001 (low)" in row.detail


def test_an_unrated_vulnerability_is_not_waved_through(app, tmp_path):
    unrated = {**REQUESTS_HIGH, "database_specific": {}}
    assert vulnerability_row(app, db(tmp_path, unrated)).verdict is Verdict.FAIL


def test_no_reachable_service_is_not_checked_never_clean(app):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/query"
    row = vulnerability_row(app, osv_url=closed)
    assert row.verdict is Verdict.NOT_CHECKED
    assert row.detail.startswith("not checked: pip-audit could not reach a vulnerability service")
    assert "no vulnerabilit" not in row.detail.lower()


def test_zip_and_directory_databases(app, tmp_path):
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("GHSA-x84v-xcm2-53pg.json", json.dumps(REQUESTS_HIGH))
    folder = tmp_path / "osv"
    folder.mkdir()
    (folder / "one.json").write_text(json.dumps(REQUESTS_HIGH))
    assert [r["id"] for r in load_osv(archive)] == [r["id"] for r in load_osv(folder)] == [REQUESTS_HIGH["id"]]
    assert audit(app / "requirements.txt", archive).blocking[0].vuln_id == "GHSA-x84v-xcm2-53pg"


def test_osv_range_matching():
    assert affects(REQUESTS_HIGH, "Requests", "2.19.0") and not affects(REQUESTS_HIGH, "requests", "2.20.0")
    assert affects(HTTPX_LOW, "httpx", "0.28.1") and not affects(HTTPX_LOW, "httpx", "0.28.0")
    last = {"affected": [{"package": {"ecosystem": "PyPI", "name": "x"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"last_affected": "1.2"}]}]}]}
    assert [affects(last, "x", v) for v in ("0.9", "1.0", "1.2", "1.3")] == [False, True, True, False]


def test_missing_database_file_and_requirements_are_named(app, tmp_path):
    assert "not found" in vulnerability_row(app, tmp_path / "nope.json").detail
    assert vulnerability_row(tmp_path, db(tmp_path)).detail.startswith("not checked: no requirements file at ")
