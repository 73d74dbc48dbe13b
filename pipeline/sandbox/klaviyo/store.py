"""The account's data: one account, its profiles (upserted by identifier) and accepted events."""
from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass, field

from pipeline.sandbox.klaviyo.validation import IDENTIFIERS

_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RESPONSE_ATTRIBUTES = ("email", "phone_number", "external_id", "first_name", "last_name", "organization",
                       "locale", "title", "image", "created", "updated", "last_event_date", "location",
                       "properties")

ACCOUNT_ATTRIBUTES = ("test_account", "contact_information", "industry", "timezone", "preferred_currency",
                      "public_api_key", "locale")


def new_id(now: float) -> str:
    """A 26-character ULID-like id, as Klaviyo profile ids look."""
    stamp, chars = int(now * 1000), []
    for _ in range(10):
        chars.append(_ULID_ALPHABET[stamp % 32])
        stamp //= 32
    return "".join(reversed(chars)) + "".join(secrets.choice(_ULID_ALPHABET) for _ in range(16))


def iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Account:
    id: str
    organization_name: str = "Sandbox Store"
    sender_name: str = "Sandbox Store"
    sender_email: str = "hello@sandbox-store.example"
    website_url: str = "https://sandbox-store.example"
    timezone: str = "America/New_York"
    currency: str = "USD"
    locale: str = "en-US"
    industry: str | None = "Retail"

    def resource(self, base: str) -> dict:
        return {
            "type": "account", "id": self.id,
            "attributes": {
                "test_account": True,
                "contact_information": {
                    "default_sender_name": self.sender_name,
                    "default_sender_email": self.sender_email,
                    "website_url": self.website_url,
                    "organization_name": self.organization_name,
                    "street_address": {"address1": "125 Summer St", "address2": "Floor 6",
                                       "city": "Boston", "region": "MA", "country": "US", "zip": "02110"},
                },
                "industry": self.industry, "timezone": self.timezone, "preferred_currency": self.currency,
                "public_api_key": self.id, "locale": self.locale,
            },
            "links": {"self": f"{base}/api/accounts/{self.id}/"},
        }


@dataclass
class Profiles:
    """Profiles by id, found again by any identifier; insertion order is list order."""
    items: dict[str, dict] = field(default_factory=dict)

    def find(self, profile_id: str | None, attributes: dict) -> dict | None:
        if profile_id and profile_id in self.items:
            return self.items[profile_id]
        for key in IDENTIFIERS:
            value = attributes.get(key)
            if value:
                for profile in self.items.values():
                    if profile["attributes"].get(key) == value:
                        return profile
        return None

    def upsert(self, profile_id: str | None, attributes: dict, now: float) -> tuple[dict, bool]:
        """Create or update; ``null`` clears a field, an omitted key keeps it. Returns (profile, created)."""
        existing = self.find(profile_id, attributes)
        if existing is None:
            existing = {"id": profile_id or new_id(now), "attributes": {"created": iso(now)}}
            self.items[existing["id"]] = existing
            created = True
        else:
            created = False
        for key, value in attributes.items():
            if value is None:
                existing["attributes"].pop(key, None)
            elif key == "properties":
                existing["attributes"]["properties"] = {**existing["attributes"].get("properties", {}), **value}
            else:
                existing["attributes"][key] = value
        existing["attributes"]["updated"] = iso(now)
        return existing, created

    def resource(self, profile: dict, base: str) -> dict:
        attributes = {k: profile["attributes"].get(k) for k in RESPONSE_ATTRIBUTES}
        attributes["properties"] = attributes["properties"] or {}
        return {"type": "profile", "id": profile["id"], "attributes": attributes,
                "links": {"self": f"{base}/api/profiles/{profile['id']}/"}}


@dataclass
class Events:
    """Accepted events; a repeated unique_id for the same profile and metric counts once."""
    items: list[dict] = field(default_factory=list)

    def add(self, event: dict, profile_id: str, now: float) -> bool:
        """Record every accepted event; a duplicate is kept but marked ``duplicate: true``."""
        unique = event.get("unique_id") or event.get("time") or iso(now)
        key = (profile_id, event["metric"], unique)
        duplicate = any(e["_key"] == key for e in self.items)
        self.items.append({"_key": key, "id": new_id(now), "metric": event["metric"], "profile_id": profile_id,
                           "properties": event["properties"], "value": event.get("value"),
                           "unique_id": event.get("unique_id"), "time": event.get("time") or iso(now),
                           "received": iso(now), "duplicate": duplicate})
        return not duplicate

    def public(self) -> list[dict]:
        return [{k: v for k, v in e.items() if k != "_key"} for e in self.items]


def default_clock() -> float:
    return time.time()
