"""Stand-in for status.klaviyo.com, an Atlassian Statuspage: the public /api/v2/*.json routes.

Components, incidents and scheduled maintenances come from a run-time scenario
(``POST /_sandbox/scenario``); the page status indicator and description are derived from
them the way Statuspage does. docs/sandbox-klaviyo.md describes the routes and scenario keys.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from typing import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from pipeline.sandbox.harness import SandboxContext, StandIn

PAGE_ID = "sbxklaviyo01"
# (name, group name or None), in page order. Group rows are generated from the group names.
COMPONENTS: tuple[tuple[str, str | None], ...] = (
    ("Klaviyo API", None), ("Klaviyo App", "Klaviyo App"), ("Flow Email Sending", "Email Sending"),
    ("Campaign Email Sending", "Email Sending"), ("Flow Triggering", None), ("Analytics", None),
    ("Segmentation", None), ("List Subscription", None), ("Signup Forms", None),
)
COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance")
IMPACTS = ("none", "minor", "major", "critical")
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved", "postmortem")
MAINTENANCE_STATUSES = ("scheduled", "in_progress", "verifying", "completed")
HTML_STATUSES = (403, 500, 502, 503)
_UNRESOLVED = ("investigating", "identified", "monitoring")
_UPDATE_BODIES = {
    "investigating": "We are currently investigating this issue.",
    "identified": "The issue has been identified and a fix is being implemented.",
    "monitoring": "A fix has been implemented and we are monitoring the results.",
    "resolved": "This incident has been resolved.",
    "postmortem": "A postmortem has been published.",
    "scheduled": "The scheduled maintenance will be performed during the window below.",
    "in_progress": "Scheduled maintenance is currently in progress. We will provide updates as necessary.",
    "verifying": "Verification is currently underway for the maintenance items.",
    "completed": "The scheduled maintenance has been completed.",
}


class ScenarioError(ValueError):
    """Bad scenario input; the message names the key and what is accepted."""


# --- pure decisions ---------------------------------------------------------------------------

def component_names() -> list[str]:
    return [name for name, _ in COMPONENTS]


def page_status(components: dict[str, str], incidents: list[dict], maintenances: list[dict]) -> dict:
    """Statuspage's {indicator, description} from component statuses and open events."""
    level = max([IMPACTS.index(i["impact"]) for i in incidents
                 if i["status"] in _UNRESOLVED and i["impact"] in IMPACTS] + [0])
    statuses = set(components.values())
    if "major_outage" in statuses:
        level = max(level, 2)
    elif statuses & {"partial_outage", "degraded_performance"}:
        level = max(level, 1)
    if level == 0:
        if any(m["status"] in ("in_progress", "verifying") for m in maintenances) or "under_maintenance" in statuses:
            return {"indicator": "maintenance", "description": "Service Under Maintenance"}
        return {"indicator": "none", "description": "All Systems Operational"}
    if level == 1:
        return {"indicator": "minor", "description": "Partial System Outage" if "partial_outage" in statuses
                else "Minor Service Outage"}
    if level == 2:
        return {"indicator": "major", "description": "Major Service Outage" if "major_outage" in statuses
                else "Partial System Outage"}
    return {"indicator": "critical", "description": "Major System Outage"}


def maintenance_status(declared: str | None, starts: float, ends: float, now: float) -> str:
    if declared:
        return declared
    if now < starts:
        return "scheduled"
    return "in_progress" if now < ends else "completed"


def merge(current: dict, patch: object, now: float) -> dict:
    """Pure: the scenario with ``patch``'s validated keys applied (null clears a key)."""
    if not isinstance(patch, dict):
        raise ScenarioError('scenario must be a JSON object, e.g. {"components": {"Klaviyo API": "major_outage"}}')
    unknown = sorted(set(patch) - set(_VALIDATORS))
    if unknown:
        raise ScenarioError(f"unknown scenario key(s) {unknown}; accepted: {sorted(_VALIDATORS)}")
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif key == "components":
            merged[key] = {**current.get(key, {}), **_components(value, now)}
        else:
            merged[key] = _VALIDATORS[key](value, now)
    return merged


def _component_map(value: object, key: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ScenarioError(f'{key} must be an object of component name -> status, e.g. {{"Klaviyo API": "major_outage"}}')
    for name, status in value.items():
        if name not in component_names():
            raise ScenarioError(f"{key}: unknown component {name!r}; accepted: {component_names()}")
        if status not in COMPONENT_STATUSES:
            raise ScenarioError(f"{key}.{name}: status must be one of {list(COMPONENT_STATUSES)}, got {status!r}")
    return dict(value)


def _components(value: object, now: float) -> dict[str, str]:
    return _component_map(value, "components")


def _incident(value: object, now: float) -> dict:
    if not isinstance(value, dict):
        raise ScenarioError('incident must be an object like {"name": ..., "impact": "major", '
                            '"status": "investigating", "components": {"Klaviyo API": "major_outage"}}')
    allowed = {"name", "impact", "status", "components", "body"}
    if set(value) - allowed:
        raise ScenarioError(f"incident: unknown key(s) {sorted(set(value) - allowed)}; accepted: {sorted(allowed)}")
    impact, status = value.get("impact", "major"), value.get("status", "investigating")
    if impact not in IMPACTS:
        raise ScenarioError(f"incident.impact must be one of {list(IMPACTS)}, got {impact!r}")
    if status not in INCIDENT_STATUSES:
        raise ScenarioError(f"incident.status must be one of {list(INCIDENT_STATUSES)}, got {status!r}")
    name = value.get("name", "Elevated API error rates")
    if not isinstance(name, str) or not name:
        raise ScenarioError("incident.name must be a non-empty string")
    return {"name": name, "impact": impact, "status": status, "body": str(value.get("body") or _UPDATE_BODIES[status]),
            "components": _component_map(value.get("components", {}), "incident.components"), "created": now}


def _maintenance(value: object, now: float) -> dict:
    if not isinstance(value, dict):
        raise ScenarioError('maintenance must be an object like {"starts_in_minutes": 30, "duration_minutes": 60, '
                            '"status": "scheduled", "components": ["Klaviyo API"]}')
    allowed = {"name", "starts_in_minutes", "duration_minutes", "status", "components"}
    if set(value) - allowed:
        raise ScenarioError(f"maintenance: unknown key(s) {sorted(set(value) - allowed)}; accepted: {sorted(allowed)}")
    starts, duration = value.get("starts_in_minutes", 30), value.get("duration_minutes", 60)
    for key, number in (("starts_in_minutes", starts), ("duration_minutes", duration)):
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ScenarioError(f"maintenance.{key} must be a number of minutes, got {number!r}")
    if duration <= 0:
        raise ScenarioError(f"maintenance.duration_minutes must be > 0, got {duration!r}")
    status = value.get("status")
    if status is not None and status not in MAINTENANCE_STATUSES:
        raise ScenarioError(f"maintenance.status must be one of {list(MAINTENANCE_STATUSES)}, got {status!r}")
    components = value.get("components", ["Klaviyo API"])
    if not isinstance(components, list) or any(c not in component_names() for c in components):
        raise ScenarioError(f"maintenance.components must be a list of {component_names()}, got {components!r}")
    return {"name": value.get("name", "Scheduled API maintenance"), "status": status, "components": components,
            "scheduled_for": now + starts * 60, "scheduled_until": now + (starts + duration) * 60, "created": now}


def _latency(value: object, now: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 120:
        raise ScenarioError(f"latency_seconds must be a number from 0 to 120, got {value!r}")
    return float(value)


def _html(value: object, now: float) -> int | None:
    if value is True:
        return 503
    if value is False:
        return None
    if isinstance(value, int) and value in HTML_STATUSES:
        return value
    raise ScenarioError(f"html_errors must be true (503), false, or one of {list(HTML_STATUSES)}, got {value!r}")


_VALIDATORS: dict[str, Callable[[object, float], object]] = {
    "components": _components, "incident": _incident, "maintenance": _maintenance,
    "latency_seconds": _latency, "html_errors": _html,
}


# --- rendering --------------------------------------------------------------------------------

def _id(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "".join("abcdefghijklmnopqrstuvwxyz0123456789"[b % 36] for b in digest[:12])


def stamp(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StatusState:
    url: str
    scenario: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    clock: Callable[[], float] = time.time

    def maintenances(self) -> list[dict]:
        m = self.scenario.get("maintenance")
        if not m:
            return []
        status = maintenance_status(m["status"], m["scheduled_for"], m["scheduled_until"], self.clock())
        return [_maintenance_body(m, status, self)]

    def incidents(self) -> list[dict]:
        i = self.scenario.get("incident")
        return [_incident_body(i, self)] if i else []

    def component_statuses(self) -> dict[str, str]:
        statuses = {name: "operational" for name in component_names()}
        incident = self.scenario.get("incident")
        if incident and incident["status"] in _UNRESOLVED:
            statuses.update(incident["components"])
        m = self.scenario.get("maintenance")
        if m and maintenance_status(m["status"], m["scheduled_for"], m["scheduled_until"], self.clock()) in (
                "in_progress", "verifying"):
            statuses.update({c: "under_maintenance" for c in m["components"] if statuses[c] == "operational"})
        statuses.update(self.scenario.get("components", {}))
        return statuses

    def components(self) -> list[dict]:
        return _component_rows(self.component_statuses(), self)

    def page(self) -> dict:
        return {"id": PAGE_ID, "name": "Klaviyo", "url": self.url, "time_zone": "Etc/UTC",
                "updated_at": stamp(self.updated)}

    def status(self) -> dict:
        return page_status(self.component_statuses(), self.incidents(), self.maintenances())


def _component_rows(statuses: dict[str, str], state: StatusState) -> list[dict]:
    rows: list[dict] = []
    groups: dict[str, dict] = {}
    for position, (name, group) in enumerate(COMPONENTS, start=1):
        if group and group not in groups:
            groups[group] = _component(group, "operational", None, len(rows) + 1, state, group=True)
            rows.append(groups[group])
        row = _component(name, statuses[name], groups[group]["id"] if group else None, len(rows) + 1, state)
        if group:
            groups[group]["components"].append(row["id"])
        rows.append(row)
    order = list(COMPONENT_STATUSES[:4])
    for group_row in groups.values():  # a group shows its worst member
        members = [r["status"] for r in rows if r["group_id"] == group_row["id"]]
        group_row["status"] = max(members, key=lambda s: order.index(s) if s in order else 0)
    return rows


def _component(name: str, status: str, group_id: str | None, position: int, state: StatusState,
               group: bool = False) -> dict:
    row = {"id": _id("group" if group else "component", name), "name": name, "status": status, "created_at": stamp(state.created),
           "updated_at": stamp(state.updated), "position": position, "description": None, "showcase": not group,
           "start_date": "2019-01-01", "group_id": group_id, "page_id": PAGE_ID, "group": group,
           "only_show_if_degraded": False}
    if group:
        row["components"] = []
    return row


def _affected(names: list[str], new_statuses: dict[str, str]) -> list[dict]:
    return [{"code": _id("component", n), "name": n, "old_status": "operational",
             "new_status": new_statuses.get(n, "operational")} for n in names]


def _event_body(kind: str, source: dict, status: str, impact: str, names: list[str], new_statuses: dict[str, str],
                state: StatusState) -> dict:
    event_id = _id(kind, source["name"], str(source["created"]))
    created, now = stamp(source["created"]), stamp(state.clock())
    update = {"id": _id("update", event_id, status), "status": status, "body": source.get("body") or _UPDATE_BODIES[status],
              "incident_id": event_id, "created_at": created, "updated_at": now, "display_at": created,
              "affected_components": _affected(names, new_statuses), "deliver_notifications": True,
              "custom_tweet": None, "tweet_id": None}
    resolved = status in ("resolved", "postmortem", "completed")
    rows = {r["name"]: r for r in _component_rows(state.component_statuses(), state)}
    return {"id": event_id, "name": source["name"], "status": status, "created_at": created, "updated_at": now,
            "monitoring_at": now if status in ("monitoring", "verifying") else None,
            "resolved_at": now if resolved else None, "impact": impact,
            "shortlink": f"https://stspg.io/{event_id[:9]}", "started_at": created, "page_id": PAGE_ID,
            "incident_updates": [update], "components": [rows[n] for n in names]}


def _incident_body(incident: dict, state: StatusState) -> dict:
    names = list(incident["components"])
    return _event_body("incident", incident, incident["status"], incident["impact"], names,
                       incident["components"], state)


def _maintenance_body(m: dict, status: str, state: StatusState) -> dict:
    target = "under_maintenance" if status in ("in_progress", "verifying") else "operational"
    body = _event_body("maintenance", m, status, "maintenance", m["components"],
                       {c: target for c in m["components"]}, state)
    body["scheduled_for"], body["scheduled_until"] = stamp(m["scheduled_for"]), stamp(m["scheduled_until"])
    return body


# --- HTTP -------------------------------------------------------------------------------------

def _route(render: Callable[[StatusState], dict]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        state: StatusState = request.app["state"]
        delay = state.scenario.get("latency_seconds", 0.0)
        if delay:
            await asyncio.sleep(delay)
        if state.scenario.get("html_errors"):
            status = state.scenario["html_errors"]
            return web.Response(status=status, content_type="text/html",
                                text=f"<!DOCTYPE html><html><head><title>{status} Error</title></head>"
                                     f"<body><h1>{status} Service Unavailable</h1><p>cloudflare</p></body></html>\n")
        return web.json_response(render(state), headers={"Access-Control-Allow-Origin": "*",
                                                         "Cache-Control": "max-age=0, private, must-revalidate"})
    return handler


def _summary(s: StatusState) -> dict:
    return {"page": s.page(), "components": s.components(),
            "incidents": [i for i in s.incidents() if i["status"] in _UNRESOLVED],
            "scheduled_maintenances": [m for m in s.maintenances() if m["status"] in ("scheduled", "in_progress", "verifying")],
            "status": s.status()}


ROUTES: dict[str, Callable[[StatusState], dict]] = {
    "status.json": lambda s: {"page": s.page(), "status": s.status()},
    "summary.json": _summary,
    "components.json": lambda s: {"page": s.page(), "components": s.components()},
    "incidents.json": lambda s: {"page": s.page(), "incidents": s.incidents()},
    "incidents/unresolved.json": lambda s: {"page": s.page(), "incidents": [
        i for i in s.incidents() if i["status"] in _UNRESOLVED]},
    "scheduled-maintenances.json": lambda s: {"page": s.page(), "scheduled_maintenances": s.maintenances()},
    "scheduled-maintenances/upcoming.json": lambda s: {"page": s.page(), "scheduled_maintenances": [
        m for m in s.maintenances() if m["status"] == "scheduled"]},
    "scheduled-maintenances/active.json": lambda s: {"page": s.page(), "scheduled_maintenances": [
        m for m in s.maintenances() if m["status"] in ("in_progress", "verifying")]},
}


async def get_scenario(request: web.Request) -> web.Response:
    return web.json_response(request.app["state"].scenario)


async def post_scenario(request: web.Request) -> web.Response:
    state: StatusState = request.app["state"]
    try:
        patch = await request.json()
        state.scenario = merge(state.scenario, patch, state.clock())
    except ValueError as error:  # ScenarioError and JSON errors
        message = str(error) if isinstance(error, ScenarioError) else "body must be a JSON object"
        return web.json_response({"error": message}, status=400)
    state.updated = state.clock()
    return web.json_response(state.scenario)


async def delete_scenario(request: web.Request) -> web.Response:
    state: StatusState = request.app["state"]
    state.scenario, state.updated = {}, state.clock()
    return web.json_response(state.scenario)


def build(state: StatusState) -> web.Application:
    app = web.Application()
    app["state"] = state
    for path, render in ROUTES.items():
        app.router.add_get(f"/api/v2/{path}", _route(render))
    app.router.add_route("GET", "/_sandbox/scenario", get_scenario)
    app.router.add_route("POST", "/_sandbox/scenario", post_scenario)
    app.router.add_route("DELETE", "/_sandbox/scenario", delete_scenario)
    return app


def make_app(ctx: SandboxContext) -> web.Application:
    return build(StatusState(ctx.urls["status"]))


def env(url: str, ctx: SandboxContext) -> dict[str, str]:
    return {"SANDBOX_STATUS_URL": url}


STAND_IN = StandIn("status", make_app, env)
