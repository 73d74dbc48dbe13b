"""The API routes served: path pattern, scope, rate-limit tier and a handler over the store."""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Callable

from pipeline.sandbox.klaviyo import validation
from pipeline.sandbox.klaviyo.errors import ApiError, invalid, not_found
from pipeline.sandbox.klaviyo.store import ACCOUNT_ATTRIBUTES, RESPONSE_ATTRIBUTES, Account, Events, Profiles


@dataclass
class Data:
    account: Account
    profiles: Profiles
    events: Events


@dataclass(frozen=True)
class Call:
    params: dict[str, str]     # from the path
    query: dict[str, str]
    body: object               # parsed JSON, or None
    base: str                  # e.g. http://127.0.0.1:PORT, for links
    url: str                   # this request's URL, for links.self
    now: float


@dataclass(frozen=True)
class Result:
    status: int
    body: dict | None


Handler = Callable[[Data, Call], Result]


@dataclass(frozen=True)
class Variant:
    """A stricter tier when query parameter ``param`` lists one of ``values`` (Klaviyo's docs per endpoint)."""
    param: str
    values: tuple[str, ...]
    tier: str


@dataclass(frozen=True)
class Endpoint:
    method: str
    pattern: re.Pattern[str]
    scope: str
    tier: str
    handler: Handler
    variants: tuple[Variant, ...] = ()

    def tier_for(self, query: dict[str, str]) -> str:
        """The tier that counts this request: ``tier`` unless a variant's parameter asks for more."""
        for variant in self.variants:
            asked = {v.strip() for v in query.get(variant.param, "").split(",")}
            if asked & set(variant.values):
                return variant.tier
        return self.tier


def list_accounts(data: Data, call: Call) -> Result:
    account = sparse(data.account.resource(call.base), call.query, "account")
    return Result(200, {"data": [account], "links": {"self": call.url, "next": None, "prev": None}})


def get_account(data: Data, call: Call) -> Result:
    if call.params["id"] != data.account.id:
        raise not_found(f"An account with id {call.params['id']} was not found.")
    account = sparse(data.account.resource(call.base), call.query, "account")
    return Result(200, {"data": account, "links": {"self": call.url}})


FIELDS = {"account": ACCOUNT_ATTRIBUTES, "profile": RESPONSE_ATTRIBUTES}


def fieldset(query: dict[str, str], type_: str) -> set[str] | None:
    """``fields[<type>]=a,b.c``: the top-level attributes to keep (None: all), or 400."""
    raw = query.get(f"fields[{type_}]")
    if raw is None:
        return None
    wanted = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in wanted if name.split(".")[0] not in FIELDS[type_]]
    if unknown or not wanted:
        raise invalid(f"Invalid field(s) {unknown or [raw]} for fields[{type_}]; accepted: "
                      f"{sorted(FIELDS[type_])}", parameter=f"fields[{type_}]")
    return {name.split(".")[0] for name in wanted}


def sparse(resource: dict, query: dict[str, str], type_: str) -> dict:
    keep = fieldset(query, type_)
    if keep is None:
        return resource
    return {**resource, "attributes": {k: v for k, v in resource["attributes"].items() if k in keep}}


def import_profile(data: Data, call: Call) -> Result:
    resource = validation.resource(call.body, "profile")
    attributes = validation.profile_attributes(resource)
    profile_id = resource.get("id")
    if profile_id is not None and (not isinstance(profile_id, str) or profile_id not in data.profiles.items):
        raise not_found(f"A profile with id {profile_id} was not found.")
    profile, created = data.profiles.upsert(profile_id, attributes, call.now)
    return Result(201 if created else 200, {"data": data.profiles.resource(profile, call.base),
                                            "links": {"self": f"{call.base}/api/profile-import/"}})


_PAGE_SIZE_MAX = 100
_FILTER = re.compile(r'^(equals|any)\((email|phone_number|external_id|id),(.*)\)$')


def list_profiles(data: Data, call: Call) -> Result:
    fieldset(call.query, "profile")
    size = _page_size(call.query.get("page[size]"))
    offset = _cursor(call.query.get("page[cursor]"))
    profiles = _filtered(list(data.profiles.items.values()), call.query.get("filter"))
    page = profiles[offset:offset + size]
    links = {"self": call.url, "next": None, "prev": None}
    if offset + size < len(profiles):
        links["next"] = f"{call.base}/api/profiles/?page[size]={size}&page[cursor]={_encode(offset + size)}"
    if offset > 0:
        links["prev"] = f"{call.base}/api/profiles/?page[size]={size}&page[cursor]={_encode(max(0, offset - size))}"
    return Result(200, {"data": [sparse(data.profiles.resource(p, call.base), call.query, "profile") for p in page],
                        "links": links})


def get_profile(data: Data, call: Call) -> Result:
    profile = data.profiles.items.get(call.params["id"])
    if profile is None:
        raise not_found(f"A profile with id {call.params['id']} was not found.")
    return Result(200, {"data": sparse(data.profiles.resource(profile, call.base), call.query, "profile"),
                        "links": {"self": call.url}})


def create_event(data: Data, call: Call) -> Result:
    event = validation.event(call.body, dt.datetime.fromtimestamp(call.now, dt.timezone.utc))
    profile = event["profile"]
    profile_id = profile.get("id")
    if profile_id is not None and profile_id not in data.profiles.items:
        if not any(profile["attributes"].get(k) for k in validation.IDENTIFIERS):
            raise invalid(f"A profile with id {str(profile_id)[:40]} was not found.",
                          pointer="/data/attributes/profile/data/id")
        profile_id = None  # identified by its attributes instead
    stored, _ = data.profiles.upsert(profile_id, profile["attributes"], call.now)
    data.events.add(event, stored["id"], call.now)
    return Result(202, None)


def _page_size(raw: str | None) -> int:
    if raw is None:
        return 20
    if not raw.isdigit() or not 1 <= int(raw) <= _PAGE_SIZE_MAX:
        raise invalid(f"Invalid page size '{raw[:20]}'. Must be an integer from 1 to {_PAGE_SIZE_MAX}.",
                      parameter="page[size]")
    return int(raw)


def _cursor(raw: str | None) -> int:
    if not raw:
        return 0
    try:
        return int(base64.urlsafe_b64decode(raw.encode() + b"==").decode().removeprefix("sbx:"))
    except (ValueError, UnicodeDecodeError):
        raise invalid("Invalid page cursor.", parameter="page[cursor]") from None


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sbx:{offset}".encode()).decode().rstrip("=")


def _filtered(profiles: list[dict], expression: str | None) -> list[dict]:
    """``equals(field,"v")`` or ``any(field,["a","b"])`` on email, phone_number, external_id, id."""
    if not expression:
        return profiles
    match = _FILTER.match(expression.strip())
    values = _filter_values(match.group(1), match.group(3)) if match else None
    if match is None or values is None:
        raise invalid(f"Invalid filter '{expression[:60]}'. The sandbox supports equals(field,\"value\") and "
                      'any(field,["a","b"]) on email, phone_number, external_id, id.', parameter="filter")
    field = match.group(2)
    return [p for p in profiles if (p["id"] if field == "id" else p["attributes"].get(field)) in values]


def _filter_values(operator: str, raw: str) -> list[str] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if operator == "equals":
        return [value] if isinstance(value, str) else None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def _route(method: str, path: str, scope: str, tier: str, handler: Handler,
           *variants: Variant) -> Endpoint:
    return Endpoint(method, re.compile("^" + path + "$"), scope, tier, handler, variants)


# Tiers as the SDK 25.0.0 docstrings (Klaviyo's reference) give them, revision 2026-10-15:
# get_profiles 75/s 750/m, 10/s 150/m with additional-fields[profile]=predictive_analytics;
# get_profile 75/s 750/m, 1/s 15/m with include=list or include=segment.
ENDPOINTS: tuple[Endpoint, ...] = (
    _route("GET", r"/api/accounts", "accounts:read", "XS", list_accounts),
    _route("GET", r"/api/accounts/(?P<id>[^/]+)", "accounts:read", "XS", get_account),
    _route("POST", r"/api/profile-import", "profiles:write", "L", import_profile),
    _route("GET", r"/api/profiles", "profiles:read", "L", list_profiles,
           Variant("additional-fields[profile]", ("predictive_analytics",), "M")),
    _route("GET", r"/api/profiles/(?P<id>[^/]+)", "profiles:read", "L", get_profile,
           Variant("include", ("list", "segment"), "XS")),
    _route("POST", r"/api/events", "events:write", "XL", create_event),
)


def match(method: str, path: str) -> tuple[Endpoint, dict[str, str]]:
    """The endpoint for a request (trailing slash optional; HEAD as GET), or 404/405."""
    normalized = path.rstrip("/") or "/"
    method = "GET" if method == "HEAD" else method
    allowed = []
    for endpoint in ENDPOINTS:
        found = endpoint.pattern.match(normalized)
        if found:
            if endpoint.method == method:
                return endpoint, found.groupdict()
            allowed.append(endpoint.method)
    if allowed:
        raise ApiError(405, "method_not_allowed", "Method not allowed.",
                       f'Method "{method}" not allowed.', headers={"Allow": ", ".join(allowed)})
    raise not_found("The requested resource was not found in the sandbox "
                    "(it serves accounts, profile-import, profiles and events).")
