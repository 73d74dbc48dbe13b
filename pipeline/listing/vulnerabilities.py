"""Known vulnerabilities in the app's dependencies: pip-audit, against a database file when given one.

The listing: "must not use versions of third party libraries and dependencies with known
critical or high vulnerabilities". The app's pins (``requirements.txt`` under the app source)
are audited by ``pip-audit -r ... --no-deps --disable-pip`` (exact pins, nothing installed or
resolved). With ``vuln_db`` (OSV records: one JSON file, a JSON list, a directory of them, or
OSV's ``<ecosystem>/all.zip`` dump) the records are served to pip-audit's OSV client from a
loopback server, so nothing leaves the machine; without it pip-audit asks its default
service, and when that cannot be reached the answer is "not checked", never "no vulnerabilities".
Severity comes from the records (``database_specific.severity``, as GitHub's advisories give
it): critical, high or unknown fails; moderate and low are listed.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pipeline.listing.model import Row, failed, not_checked, passed

BLOCKING = ("CRITICAL", "HIGH")


class AuditUnavailable(Exception):
    """The audit could not be done; the message says why (it becomes "not checked: ...")."""


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    vuln_id: str
    severity: str                 # CRITICAL | HIGH | MODERATE | LOW | UNKNOWN
    fixed_in: tuple[str, ...]


@dataclass(frozen=True)
class Audit:
    packages: int                 # pins audited (skipped ones excluded)
    findings: tuple[Finding, ...]
    source: str                   # "OSV database file X (N records)" or "pip-audit's default service"
    skipped: tuple[tuple[str, str], ...] = ()   # (package, why pip-audit could not audit it)

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity in BLOCKING or f.severity == "UNKNOWN")


# --- the database file ------------------------------------------------------------------------

def load_osv(path: Path) -> list[dict[str, Any]]:
    """OSV records from a file, a list file, a directory or an OSV zip dump."""
    if not path.exists():
        raise AuditUnavailable(f"vulnerability database {path} not found")
    if path.is_dir():
        texts = [p.read_text() for p in sorted(path.rglob("*.json"))]
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            texts = [archive.read(n).decode() for n in archive.namelist() if n.endswith(".json")]
    else:
        texts = [path.read_text()]
    records: list[dict[str, Any]] = []
    for text in texts:
        try:
            loaded = json.loads(text)
        except ValueError:
            raise AuditUnavailable(f"vulnerability database {path} holds a file that is not JSON") from None
        records += loaded if isinstance(loaded, list) else [loaded]
    if not all(isinstance(r, dict) and "id" in r for r in records):
        raise AuditUnavailable(f"vulnerability database {path}: every record needs an OSV 'id'")
    return records


def affects(record: dict[str, Any], name: str, version: str) -> bool:
    """OSV matching for one PyPI package version: listed versions, or an ECOSYSTEM range."""
    for affected in record.get("affected") or []:
        package = affected.get("package") or {}
        if package.get("ecosystem") != "PyPI" or canonicalize_name(package.get("name", "")) != canonicalize_name(name):
            continue
        if version in (affected.get("versions") or []):
            return True
        if any(_in_range(r, version) for r in affected.get("ranges") or [] if r.get("type") == "ECOSYSTEM"):
            return True
    return False


def _in_range(osv_range: dict[str, Any], version: str) -> bool:
    try:
        current = Version(version)
        inside = False
        for event in sorted(osv_range.get("events") or [], key=lambda e: _event_version(e)):
            if "introduced" in event:
                inside = current >= _event_version(event)
            elif "fixed" in event and current >= Version(event["fixed"]):
                inside = False
            elif "last_affected" in event and current > Version(event["last_affected"]):
                inside = False
        return inside
    except InvalidVersion:
        return False


def _event_version(event: dict[str, Any]) -> Version:
    value = next(iter(event.values()))
    return Version("0") if value == "0" else Version(value)


def severity_of(record: dict[str, Any]) -> str:
    level = str((record.get("database_specific") or {}).get("severity") or "").upper()
    return level if level in ("CRITICAL", "HIGH", "MODERATE", "MEDIUM", "LOW") else "UNKNOWN"


@contextmanager
def osv_server(records: list[dict[str, Any]]) -> Iterator[str]:
    """A loopback ``POST /v1/query`` answering from ``records``, as api.osv.dev would."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            query = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            name, version = query.get("package", {}).get("name", ""), query.get("version", "")
            vulns = [r for r in records if affects(r, name, version)]
            body = json.dumps({"vulns": vulns} if vulns else {}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


# --- pip-audit ----------------------------------------------------------------------------------

def audit(requirements: Path, vuln_db: Path | None = None, timeout: float = 60.0,
          osv_url: str | None = None) -> Audit:
    """Audit ``requirements`` (exact pins); ``osv_url`` overrides the default service (tests)."""
    if not requirements.is_file():
        raise AuditUnavailable(f"no requirements file at {requirements}")
    if vuln_db is not None:
        records = load_osv(vuln_db)
        with osv_server(records) as url:
            return _pip_audit(requirements, ["-s", "osv", "--osv-url", url], timeout, records,
                              f"OSV database file {vuln_db} ({len(records)} records)")
    service = ["-s", "osv", "--osv-url", osv_url] if osv_url else []
    return _pip_audit(requirements, service, timeout, [],
                      f"OSV service {osv_url}" if osv_url else "pip-audit's default service (PyPI)")


def _pip_audit(requirements: Path, service: list[str], timeout: float,
               records: list[dict[str, Any]], source: str) -> Audit:
    with tempfile.TemporaryDirectory(prefix="listing-audit-") as cache:
        command = [sys.executable, "-m", "pip_audit", "-r", str(requirements), "--no-deps", "--disable-pip",
                   "-f", "json", "--progress-spinner", "off", "--cache-dir", cache, "--timeout", "10", *service]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AuditUnavailable(f"pip-audit did not finish within {timeout:.0f} s") from None
    if done.returncode not in (0, 1) or not done.stdout.strip().startswith("{"):
        return _unavailable(done)
    report = json.loads(done.stdout)
    by_id = {alias: r for r in records for alias in [r["id"], *(r.get("aliases") or [])]}
    findings, skipped, audited = [], [], 0
    for dep in report.get("dependencies", []):
        if dep.get("skip_reason"):        # pip-audit prints "No known vulnerabilities" for these too
            skipped.append((dep["name"], str(dep["skip_reason"])))
            continue
        audited += 1
        for vuln in dep.get("vulns", []):
            record = next((by_id[i] for i in [vuln["id"], *vuln.get("aliases", [])] if i in by_id), {})
            findings.append(Finding(dep["name"], dep.get("version", "?"), str(record.get("id") or vuln["id"]),
                                    severity_of(record) if record else "UNKNOWN", tuple(vuln.get("fix_versions", []))))
    if not audited:
        reason = skipped[0][1] if skipped else "no dependency in the file"
        raise AuditUnavailable(f"pip-audit audited none of {len(skipped)} pins ({reason[:160]})")
    return Audit(audited, tuple(findings), source, tuple(skipped))


def _unavailable(done: subprocess.CompletedProcess[str]) -> Any:
    text = (done.stderr or done.stdout).strip()
    if "No module named pip_audit" in text:
        raise AuditUnavailable("pip-audit is not installed (pip install 'klaviyo-k8s-pipeline[listing]')")
    lines = [line for line in text.splitlines() if line.strip()]
    reason = lines[-1][:200] if lines else f"exit {done.returncode}"
    raise AuditUnavailable(f"pip-audit could not reach a vulnerability service ({reason})")


# --- the row ---------------------------------------------------------------------------------

NAME = "vulnerabilities"
REQUIREMENT = "No third-party libraries with known critical or high vulnerabilities"


def vulnerability_row(app_source: Path, vuln_db: Path | None = None, osv_url: str | None = None) -> Row:
    requirements = app_source / "requirements.txt"
    try:
        result = audit(requirements, vuln_db, osv_url=osv_url)
    except AuditUnavailable as exc:
        return not_checked(NAME, REQUIREMENT, str(exc), requirements=str(requirements))
    listed = [f"{f.package} {f.version} {f.vuln_id} ({f.severity.lower()})" for f in result.findings]
    measured = {"packages": result.packages, "source": result.source, "findings": listed,
                "skipped": [name for name, _ in result.skipped]}
    scope = f"{result.packages} pinned packages of {requirements} against {result.source}"
    if result.blocking:
        shown = [f"{f.package} {f.version} {f.vuln_id} ({f.severity.lower()}; fixed in "
                 f"{', '.join(f.fixed_in) or 'no release yet'})" for f in result.blocking]
        return failed(NAME, REQUIREMENT, f"{len(shown)} critical/high (or unrated) in {scope}: {'; '.join(shown)}",
                      **measured)
    if result.skipped:
        names = ", ".join(name for name, _ in result.skipped)
        return not_checked(NAME, REQUIREMENT, f"pip-audit could not audit {names} ({scope})", **measured)
    others = f"; not blocking: {'; '.join(listed)}" if listed else ""
    return passed(NAME, REQUIREMENT, f"no critical or high vulnerability in {scope}{others}", **measured)
