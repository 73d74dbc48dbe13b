"""docs/api-endpoints.md lists exactly the endpoints the code calls, with the right scopes.

The code runs for real against the stand-ins (see ``wire.record``); the stand-ins' request logs
are normalised to path templates and compared with the doc's tables, as sets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from pipeline.sandbox.klaviyo import endpoints as klaviyo_routes
from pipeline.sandbox.klaviyo.ratelimit import TIERS

from .tables import code, read, tables
from .wire import EXPECTED_OUTCOMES, Recorded, record

DOC = "api-endpoints.md"


@dataclass(frozen=True)
class Row:
    section: str
    callers: tuple[str, ...]
    method: str
    path: str                    # as documented, possibly a template with {names}
    cells: dict[str, str]

    def matches(self, path: str) -> bool:
        pattern = re.sub(r"\\\{[A-Za-z]+\\\}", "[^/]+", re.escape(normalise(self.path)))
        return re.fullmatch(pattern, normalise(path)) is not None


def normalise(path: str) -> str:
    """Query dropped, trailing slash dropped (Klaviyo serves both; the SDK omits it, preflight sends it)."""
    path = path.split("?", 1)[0]
    return path.rstrip("/") or "/"


def sections() -> dict[str, list[Row]]:
    """Each ``## heading`` of the doc -> its endpoint table rows."""
    found: dict[str, list[Row]] = {}
    for part in re.split(r"^## ", read(DOC), flags=re.M)[1:]:
        heading = part.splitlines()[0].strip()
        for table in tables(part):
            if table and {"caller", "method", "path"} <= set(table[0]):
                found.setdefault(heading, []).extend(
                    Row(heading, tuple(c.strip() for c in code(r["caller"]).split(",")), r["method"],
                        code(r["path"]), r) for r in table)
    return found


SECTIONS = sections()


def section(prefix: str) -> list[Row]:
    [heading] = [h for h in SECTIONS if h.startswith(prefix)]
    return SECTIONS[heading]


KLAVIYO = section("Klaviyo API")
STATUS_PAGE = section("Klaviyo status page")
LD_REST = section("LaunchDarkly REST")
LD_SDK = section("LaunchDarkly SDK")
APP_ROUTES = section("Routes the app serves")


@pytest.fixture(scope="module")
def wire(tmp_path_factory) -> Recorded:
    return record(tmp_path_factory.mktemp("wire"))


def template_of(rows: list[Row], caller: str, method: str, path: str) -> Row | None:
    """The documented row for a request: the caller's own row first, else any caller's."""
    found = [r for r in rows if r.method == method and r.matches(path)]
    found.sort(key=lambda r: caller not in r.callers)
    return found[0] if found else None


def called(rows: list[Row], log: list[dict], caller_of) -> set[tuple[str, str, str]]:
    """(caller, method, documented path) per logged request; an undocumented one keeps its raw path."""
    result = set()
    for entry in log:
        caller = caller_of(entry)
        row = template_of(rows, caller, entry["method"], entry["path"])
        result.add((caller, entry["method"], row.path if row else entry["path"]))
    return result


def documented(rows: list[Row]) -> set[tuple[str, str, str]]:
    return {(caller, r.method, r.path) for r in rows for caller in r.callers}


def klaviyo_caller(entry: dict) -> str:
    agent = entry.get("user_agent") or ""
    if agent == "klaviyo-k8s-pipeline-preflight":
        return "preflight"
    if agent.startswith("klaviyo-api-python/"):
        return "app"
    return f"unknown ({agent})"


def test_the_run_exercised_everything(wire):
    assert wire.preflight.ok, wire.preflight.to_dict()
    for name, outcome in EXPECTED_OUTCOMES.items():
        assert wire.kill_switch[name].outcome is outcome, wire.kill_switch[name].detail
    assert wire.app_exit == 0


def test_klaviyo_endpoints_called_are_exactly_the_documented_ones(wire):
    assert called(KLAVIYO, wire.klaviyo, klaviyo_caller) == documented(KLAVIYO)
    assert all(200 <= e["status"] < 300 for e in wire.klaviyo), wire.klaviyo


@pytest.mark.parametrize("row", KLAVIYO, ids=lambda r: f"{r.callers[0]} {r.method} {r.path}")
def test_klaviyo_scope_and_tier_are_the_stand_ins(row):
    endpoint, _ = klaviyo_routes.match(row.method, row.path)
    assert code(row.cells["scope"]) == endpoint.scope
    assert code(row.cells["tier"]) == endpoint.tier
    tier = TIERS[endpoint.tier]
    assert row.cells["rate limit"] == f"{tier.burst}/s, {tier.steady}/min"


@pytest.mark.parametrize("row", KLAVIYO, ids=lambda r: f"{r.callers[0]} {r.method} {r.path}")
def test_klaviyo_revision_is_the_one_sent(row, wire):
    sent = {e["revision"] for e in wire.klaviyo
            if klaviyo_caller(e) in row.callers and e["method"] == row.method and row.matches(e["path"])}
    assert sent == {code(row.cells["revision"])}


def test_scopes_requested_are_the_endpoints_scopes():
    requested = {code(r["scope"]) for t in tables(read(DOC)) if t and set(t[0]) == {"scope", "needed for"}
                 for r in t}
    assert requested == {code(r.cells["scope"]) for r in KLAVIYO}


def test_status_page_endpoints(wire):
    assert wire.status_page, "preflight did not reach the status page"
    assert called(STATUS_PAGE, wire.status_page, lambda e: "preflight") == documented(STATUS_PAGE)


def ld_caller(entry: dict) -> str:
    agent = entry.get("user_agent") or ""
    return "pipeline" if agent == "klaviyo-pipeline" else "sdk" if agent.startswith("PythonClient/") else agent


def test_launchdarkly_rest_endpoints(wire):
    rest = [e for e in wire.launchdarkly if e["path"].startswith("/api/")]
    assert called(LD_REST, rest, ld_caller) == documented(LD_REST)
    assert {e["ld_api_version"] for e in rest} == {"20240415"}
    patches = [e for e in rest if e["method"] == "PATCH"]
    assert all("domain-model=launchdarkly.semanticpatch" in e["content_type"] for e in patches)


def test_launchdarkly_sdk_endpoints(wire):
    sdk = [e for e in wire.launchdarkly if not e["path"].startswith("/api/")]
    assert {ld_caller(e) for e in sdk} == {"sdk"}
    assert {(e["method"], e["path"]) for e in sdk} == {(r.method, r.path) for r in LD_SDK}


def test_app_routes_documented_are_served(wire):
    assert set(wire.app_routes) == {(r.method, r.path) for r in APP_ROUTES}
    assert all(status == 200 for status in wire.app_routes.values()), wire.app_routes
