"""GET /api/profiles counts against the tier Klaviyo documents for it, judged through the official SDK.

The documented figures are read from the SDK itself (klaviyo-api 25.0.0 copies Klaviyo's API
reference into each method's docstring: "Burst: `75/s` Steady: `750/m`", and the stricter
figures "when using the `additional-fields[profile]=predictive_analytics` parameter"), so the
stand-in is held to Klaviyo's word, not to our own table.
"""
from __future__ import annotations

import re

import httpx
import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.api.profiles_api import ProfilesApi
from openapi_client.exceptions import ApiException

from tests.sandbox_klaviyo.support import requests_seen

_FIGURES = re.compile(r"Burst: `(\d+)/s`<br>Steady: `(\d+)/m`")


def documented(method) -> list[tuple[int, int]]:
    """(burst, steady) pairs in the order the docstring gives them: default first, then variants."""
    return [(int(b), int(s)) for b, s in _FIGURES.findall(method.__doc__ or "")]


GET_PROFILES = documented(ProfilesApi.get_profiles)


def test_the_sdk_documents_the_figures_we_hold_the_stand_in_to():
    assert GET_PROFILES == [(75, 750), (10, 150)]   # default; predictive_analytics
    assert "predictive_analytics" in ProfilesApi.get_profiles.__doc__


def api(klaviyo: str, key: str) -> ProfilesApi:
    return KlaviyoAPI(key, test_host=klaviyo, max_retries=1).Profiles


def test_get_profiles_reports_the_documented_steady_limit(klaviyo, key):
    burst, steady = GET_PROFILES[0]
    answer = api(klaviyo, key).get_profiles_with_http_info()
    assert answer.status_code == 200
    assert int(answer.headers["RateLimit-Limit"]) == steady == 750


def test_predictive_analytics_draws_on_the_stricter_tier(klaviyo, key):
    _, steady = GET_PROFILES[1]
    answer = api(klaviyo, key).get_profiles_with_http_info(additional_fields_profile=["predictive_analytics"])
    assert int(answer.headers["RateLimit-Limit"]) == steady == 150


def test_head_reply_carries_the_same_documented_limit(klaviyo, headers, key):
    """The checklist's `curl -I .../api/profiles/?page[size]=1`: HEAD answers like GET."""
    _, steady = GET_PROFILES[0]
    head = httpx.head(klaviyo + "/api/profiles/?page%5Bsize%5D=1", headers=headers)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["RateLimit-Limit"]) == steady
    assert int(head.headers["RateLimit-Remaining"]) == steady - 1


def test_burst_of_75_per_second_then_429(klaviyo, key, clock):
    burst, _ = GET_PROFILES[0]
    profiles = api(klaviyo, key)
    for _ in range(burst):
        profiles.get_profiles()
    with pytest.raises(ApiException) as throttled:
        profiles.get_profiles()
    assert throttled.value.status == 429
    assert [r["status"] for r in requests_seen(klaviyo)].count(200) == burst


def test_an_older_revision_is_held_to_the_older_l_tier(klaviyo, key):
    profiles = api(klaviyo, key)
    profiles.api_client.default_headers["revision"] = "2025-10-15"
    assert profiles.get_profiles_with_http_info().headers["RateLimit-Limit"] == "700"
