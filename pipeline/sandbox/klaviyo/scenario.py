"""Run-time scenarios: a validated JSON object merged key by key into the current one."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from pipeline.sandbox.klaviyo.auth import ALL_SCOPES
from pipeline.sandbox.klaviyo.oauth import ACCESS_TOKEN_SECONDS
from pipeline.sandbox.klaviyo.ratelimit import TIERS, Tier

HTML_STATUSES = (400, 403, 502, 503)
SERVER_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True)
class Scenario:
    revoked_key: bool = False              # the private key -> 401 authentication_failed
    revoked_token: bool = False            # the sandbox OAuth token -> 401 authentication_failed
    missing_scopes: tuple[str, ...] = ()   # -> 403 permission_denied on endpoints needing them
    throttle: dict | None = None           # {"retry_after": int, "times": int|None} -> API requests 429
    latency_seconds: float = 0.0           # added before every API response
    html_errors: int | None = None         # CDN HTML page with this status (true -> 503)
    server_errors: dict | None = None      # {"status": 5xx, "times": int|None} -> JSON:API 5xx
    rate_limits: dict[str, dict[str, int]] = field(default_factory=dict)  # tier -> {burst, steady}
    oauth_token_seconds: int = ACCESS_TOKEN_SECONDS  # lifetime of access tokens issued from now on
    oauth_deny: bool = False               # the merchant clicks "deny" on the consent page

    def to_json(self) -> dict:
        data = asdict(self)
        data["missing_scopes"] = list(self.missing_scopes)
        return data

    def tier_overrides(self) -> dict[str, Tier]:
        return {name: Tier(v.get("burst", TIERS[name].burst), v.get("steady", TIERS[name].steady))
                for name, v in self.rate_limits.items()}


class ScenarioError(ValueError):
    """Bad scenario input; the message names the key and what is accepted."""


def merge(current: Scenario, patch: object) -> Scenario:
    """Pure: ``current`` with ``patch``'s keys validated and applied (null resets a key)."""
    if not isinstance(patch, dict):
        raise ScenarioError("scenario must be a JSON object, e.g. {\"revoked_key\": true}")
    known = {f.name: f for f in fields(Scenario)}
    unknown = sorted(set(patch) - set(known))
    if unknown:
        raise ScenarioError(f"unknown scenario key(s) {unknown}; accepted: {sorted(known)}")
    changes = {}
    for key, value in patch.items():
        changes[key] = getattr(Scenario(), key) if value is None else _VALIDATORS[key](value)
    if "rate_limits" in changes and patch["rate_limits"] is not None:
        changes["rate_limits"] = {**current.rate_limits, **changes["rate_limits"]}
    return replace(current, **changes)


def _bool(key: str):
    def check(value: object) -> bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{key} must be true or false, got {value!r}")
        return value
    return check


def _scopes(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ScenarioError(f"missing_scopes must be a list of scope names, got {value!r}")
    bad = [s for s in value if s not in ALL_SCOPES]
    if bad:
        raise ScenarioError(f"missing_scopes: unknown scope(s) {bad}; e.g. accounts:read, "
                            "profiles:read, profiles:write, events:write")
    return tuple(value)


def _throttle(value: object) -> dict:
    if not isinstance(value, dict) or set(value) - {"retry_after", "times"}:
        raise ScenarioError(f"throttle must be {{\"retry_after\": <int seconds>, \"times\"?: <int>}}, got {value!r}")
    retry_after, times = value.get("retry_after", 1), value.get("times")
    if isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0:
        raise ScenarioError(f"throttle.retry_after must be a whole number of seconds >= 0, got {retry_after!r}")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ScenarioError(f"throttle.times must be a whole number >= 1 (or omitted: every request), got {times!r}")
    return {"retry_after": retry_after, "times": times}


def _token_seconds(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 86400:
        raise ScenarioError(f"oauth_token_seconds must be a whole number of seconds from 1 to 86400, got {value!r}")
    return value


def _latency(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 120:
        raise ScenarioError(f"latency_seconds must be a number from 0 to 120, got {value!r}")
    return float(value)


def _status(key: str, accepted: tuple[int, ...]):
    def check(value: object) -> int | None:
        if value is False:
            return None
        if value is True:
            return 503
        if isinstance(value, int) and value in accepted:
            return value
        raise ScenarioError(f"{key} must be true (503), false, or one of {list(accepted)}, got {value!r}")
    return check


def _server_errors(value: object) -> dict | None:
    """``true`` / a status / ``{"status": 503, "times": 2}`` -> {"status", "times"} (times None = always)."""
    if isinstance(value, dict):
        if set(value) - {"status", "times"}:
            raise ScenarioError(f"server_errors object accepts status and times, got {sorted(value)}")
        status = _status("server_errors.status", SERVER_STATUSES)(value.get("status", True))
        times = value.get("times")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ScenarioError(f"server_errors.times must be a whole number >= 1, got {times!r}")
        return {"status": status, "times": times} if status else None
    status = _status("server_errors", SERVER_STATUSES)(value)
    return {"status": status, "times": None} if status else None


def _rate_limits(value: object) -> dict[str, dict[str, int]]:
    if not isinstance(value, dict):
        raise ScenarioError("rate_limits must be an object like {\"XS\": {\"burst\": 1, \"steady\": 15}}")
    out = {}
    for tier, limits in value.items():
        if tier not in TIERS:
            raise ScenarioError(f"rate_limits: unknown tier {tier!r}; accepted: {list(TIERS)}")
        if not isinstance(limits, dict) or not limits or set(limits) - {"burst", "steady"} or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in limits.values()):
            raise ScenarioError(f"rate_limits.{tier} must be {{\"burst\": int, \"steady\": int}} "
                                f"(either or both, >= 0), got {limits!r}")
        out[tier] = dict(limits)
    return out


_VALIDATORS = {
    "revoked_key": _bool("revoked_key"), "revoked_token": _bool("revoked_token"),
    "missing_scopes": _scopes, "throttle": _throttle, "latency_seconds": _latency,
    "html_errors": _status("html_errors", HTML_STATUSES),
    "server_errors": _server_errors, "rate_limits": _rate_limits,
    "oauth_token_seconds": _token_seconds, "oauth_deny": _bool("oauth_deny"),
}
