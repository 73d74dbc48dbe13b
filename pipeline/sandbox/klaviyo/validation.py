"""Request-body validation for profile-import and events: pure, raising 400 with a pointer."""
from __future__ import annotations

import datetime as dt
import re

from pipeline.sandbox.klaviyo.errors import invalid

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PROFILE_ATTRIBUTES = ("email", "phone_number", "external_id", "anonymous_id", "first_name", "last_name",
                      "organization", "locale", "title", "image", "location", "properties")
IDENTIFIERS = ("email", "phone_number", "external_id", "anonymous_id")
_STRING_ATTRIBUTES = ("email", "phone_number", "external_id", "anonymous_id", "first_name", "last_name",
                      "organization", "locale", "title", "image")


def resource(body: object, type_: str, pointer: str = "/data") -> dict:
    """The ``data`` resource object of a JSON:API document, checked for its ``type``."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise invalid("'data' is a required property", pointer=pointer)
    data = body["data"]
    if data.get("type") != type_:
        raise invalid(f"'type' must be '{type_}'", pointer=f"{pointer}/type")
    return data


def profile_attributes(data: dict, pointer: str = "/data") -> dict:
    """Validated profile attributes (``null`` kept: it clears a field on upsert)."""
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        raise invalid("'attributes' is a required property", pointer=f"{pointer}/attributes")
    for key in attributes:
        if key not in PROFILE_ATTRIBUTES:
            raise invalid(f"'{key}' is not a valid field for the resource 'profile'.",
                          pointer=f"{pointer}/attributes/{key}")
    for key in _STRING_ATTRIBUTES:
        if attributes.get(key) is not None and not isinstance(attributes[key], str):
            raise invalid(f"'{key}' must be a string.", pointer=f"{pointer}/attributes/{key}")
    for key in ("location", "properties"):
        if attributes.get(key) is not None and not isinstance(attributes[key], dict):
            raise invalid(f"'{key}' must be an object.", pointer=f"{pointer}/attributes/{key}")
    phone = attributes.get("phone_number")
    if phone is not None and not E164.match(phone):
        raise invalid("Invalid phone number format (Example of a valid format: +12345678901)",
                      pointer=f"{pointer}/attributes/phone_number")
    email = attributes.get("email")
    if email is not None and not EMAIL.match(email):
        raise invalid("Invalid email address", pointer=f"{pointer}/attributes/email")
    if not data.get("id") and not any(attributes.get(k) for k in IDENTIFIERS):
        raise invalid("One of 'email', 'phone_number', 'external_id' or 'anonymous_id' is required "
                      "to identify a profile.", pointer=f"{pointer}/attributes")
    return attributes


def event(body: object, now: dt.datetime) -> dict:
    """A validated event: its metric name, profile resource and attributes."""
    data = resource(body, "event")
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        raise invalid("'attributes' is a required property", pointer="/data/attributes")
    if not isinstance(attributes.get("properties"), dict):
        raise invalid("'properties' is a required property", pointer="/data/attributes/properties")
    if len(attributes["properties"]) > 400:
        raise invalid("'properties' may have at most 400 keys.", pointer="/data/attributes/properties")
    metric = _related(attributes, "metric")
    name = (metric.get("attributes") or {}).get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid("'name' is a required property", pointer="/data/attributes/metric/data/attributes/name")
    profile = _related(attributes, "profile")
    profile_attributes(profile, pointer="/data/attributes/profile/data")
    _check_time(attributes.get("time"), now)
    value = attributes.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise invalid("'value' must be a number.", pointer="/data/attributes/value")
    return {"metric": name, "profile": profile, "properties": attributes["properties"],
            "time": attributes.get("time"), "value": value, "unique_id": attributes.get("unique_id")}


def _related(attributes: dict, name: str) -> dict:
    wrapper = attributes.get(name)
    if not isinstance(wrapper, dict):
        raise invalid(f"'{name}' is a required property", pointer=f"/data/attributes/{name}")
    data = wrapper.get("data")
    if not isinstance(data, dict):
        raise invalid("'data' is a required property", pointer=f"/data/attributes/{name}/data")
    if data.get("type") != name:
        raise invalid(f"'type' must be '{name}'", pointer=f"/data/attributes/{name}/data/type")
    return data


def _check_time(value: object, now: dt.datetime) -> None:
    if value is None:
        return
    pointer = "/data/attributes/time"
    if not isinstance(value, str):
        raise invalid("'time' must be an ISO 8601 datetime string.", pointer=pointer)
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"'time' is not a valid ISO 8601 datetime: {value[:40]!r}", pointer=pointer) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    if when.year < 1990 or when > now + dt.timedelta(days=365):
        raise invalid("'time' must be after 1990 and at most one year in the future.", pointer=pointer)
