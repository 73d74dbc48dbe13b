"""The official klaviyo-api SDK (25.0.0) and preflight's api-auth agree on the stand-in's answers."""
import pytest

from pipeline.preflight.check import Verdict

klaviyo_api = pytest.importorskip("klaviyo_api")
ONLY_AUTH = ["status-page", "rate-limit", "sdk-pin", "revision", "secrets", "hardcoded-keys"]


def sdk_status(sb) -> int:
    sb.call(lambda: sb.apps["klaviyo"]["state"].limiter.reset())
    client = klaviyo_api.KlaviyoAPI(sb.credentials.klaviyo_private_key, max_delay=0, max_retries=1,
                                    test_host=sb.urls["klaviyo"])
    try:
        client.Accounts.get_accounts()
    except Exception as exc:  # openapi_client.exceptions.ApiException subclasses
        return int(getattr(exc, "status"))
    return 200


@pytest.mark.parametrize("patch, status, verdict", [
    ({}, 200, Verdict.PASS),
    ({"revoked_key": True}, 401, Verdict.FAIL),
    ({"missing_scopes": ["accounts:read"]}, 403, Verdict.FAIL),
])
def test_sdk_and_preflight_agree(sb, run, scenario, patch, status, verdict):
    scenario("klaviyo", patch)
    assert sdk_status(sb) == status
    sb.call(lambda: sb.apps["klaviyo"]["state"].limiter.reset())
    result = run(skip=ONLY_AUTH).result("api-auth")
    assert result.verdict is verdict
    assert result.measured["status"] == status
