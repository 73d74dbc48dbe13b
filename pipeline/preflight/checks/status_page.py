"""Check 1: Klaviyo's status page (summary.json).

Measures the page indicator, each configured component's status, unresolved incidents and
scheduled maintenance in progress or starting within ``maintenance_window_minutes``. The
page lags real outages, so this is never the only signal: api-auth probes the API itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pipeline.klaviyo.statuspage import StatusSummary, get_summary
from pipeline.preflight.check import Finding, Verdict, worst
from pipeline.preflight.context import PreflightContext

INDICATOR_VERDICT = {"none": Verdict.PASS, "minor": Verdict.WARN, "maintenance": Verdict.WARN,
                     "major": Verdict.FAIL, "critical": Verdict.FAIL}
COMPONENT_VERDICT = {"operational": Verdict.PASS, "degraded_performance": Verdict.WARN,
                     "partial_outage": Verdict.FAIL, "major_outage": Verdict.FAIL,
                     "under_maintenance": Verdict.FAIL}
RESOLVED = {"resolved", "postmortem", "completed"}
ACTIVE_MAINTENANCE = {"in_progress", "verifying"}


@dataclass(frozen=True)
class StatusPageCheck:
    timeout: float = 10.0
    name: str = "status-page"
    title: str = "Klaviyo status page"

    async def run(self, ctx: PreflightContext) -> Finding:
        summary = await get_summary(ctx.http, ctx.config.klaviyo.status_page_url)
        settings = ctx.config.klaviyo
        return evaluate_status(summary, settings.components, settings.maintenance_window_minutes,
                               ctx.now)


def evaluate_status(summary: StatusSummary, components: tuple[str, ...], window_minutes: int,
                    now: datetime) -> Finding:
    """Pure verdict over a summary.json: the worst of indicator, components, incidents, maintenance."""
    parts: list[tuple[Verdict, str]] = []
    indicator = summary.indicator
    parts.append((INDICATOR_VERDICT.get(indicator, Verdict.ERROR),
                  f"indicator {indicator or '(missing)'} ({summary.description or 'no description'}; "
                  "threshold: none)"))
    statuses = {c.get("name"): str(c.get("status", "")) for c in summary.components}
    for name in components:
        if name not in statuses:
            parts.append((Verdict.ERROR, f"component {name!r} is not on the status page"))
        else:
            parts.append((COMPONENT_VERDICT.get(statuses[name], Verdict.ERROR),
                          f"{name} {statuses[name]} (threshold: operational)"))
    incidents = [i for i in summary.incidents if i.get("status") not in RESOLVED]
    parts.extend(_incident(i, components) for i in incidents)
    if not incidents:
        parts.append((Verdict.PASS, "0 unresolved incidents"))
    found = (_maintenance(m, components, window_minutes, now) for m in summary.scheduled_maintenances)
    maintenance = [m for m in found if m is not None]
    parts.extend(maintenance or [(Verdict.PASS, f"no maintenance in progress or within {window_minutes} min")])
    verdict = worst([v for v, _ in parts])
    shown = [text for v, text in parts if v == verdict] if verdict != Verdict.PASS else [t for _, t in parts]
    measured = {
        "indicator": indicator, "description": summary.description,
        "components": {n: statuses.get(n, "missing") for n in components},
        "unresolved_incidents": [{"name": i.get("name"), "impact": i.get("impact"),
                                  "status": i.get("status")} for i in incidents],
        "maintenance_window_minutes": window_minutes,
    }
    return Finding(verdict, "; ".join(shown), measured)


def _affected(item: dict[str, Any]) -> list[str]:
    return [str(c.get("name")) for c in item.get("components") or [] if isinstance(c, dict)]


def _incident(incident: dict[str, Any], components: tuple[str, ...]) -> tuple[Verdict, str]:
    impact = str(incident.get("impact", "none"))
    hits = [c for c in _affected(incident) if c in components]
    verdict = Verdict.FAIL if hits or impact in ("major", "critical") else Verdict.WARN
    where = f" affecting {', '.join(hits)}" if hits else ""
    return verdict, (f"unresolved incident {incident.get('name')!r} ({incident.get('status')}, "
                     f"impact {impact}){where}")


def _maintenance(item: dict[str, Any], components: tuple[str, ...], window_minutes: int,
                 now: datetime) -> tuple[Verdict, str] | None:
    status = str(item.get("status", ""))
    affected = _affected(item)
    ours = not affected or any(c in components for c in affected)
    name = item.get("name")
    if status in ACTIVE_MAINTENANCE:
        return (Verdict.FAIL if ours else Verdict.WARN), f"maintenance {name!r} is {status}"
    if status != "scheduled":
        return None
    start = _parse_time(item.get("scheduled_for"))
    if start is None:
        return Verdict.WARN, f"maintenance {name!r} is scheduled at an unreadable time"
    minutes = (start - now).total_seconds() / 60
    if minutes <= window_minutes:
        verdict = Verdict.FAIL if ours else Verdict.WARN
        return verdict, (f"maintenance {name!r} starts in {max(minutes, 0):.0f} min "
                         f"(window: {window_minutes} min)")
    return None


def _parse_time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
