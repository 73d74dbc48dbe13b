"""The stand-in's REST API: flag shape, semantic and JSON patch, versions, errors, approvals, scenarios."""
import httpx
import pytest

from pipeline.sandbox.harness import Sandbox
from tests.launchdarkly.conftest import FLAG, FLAG_PATH, PROJECT, SEMANTIC

APPROVALS = f"/api/v2/projects/{PROJECT}/flags/{FLAG}/environments/local/approval-requests"


def test_get_flag_shape(ld):
    flag = ld.flag("local")
    assert flag["key"] == FLAG and flag["_version"] == 1 and flag["kind"] == "boolean"
    assert [v["value"] for v in flag["variations"]] == [True, False]
    assert list(flag["environments"]) == ["local"]
    env = flag["environments"]["local"]
    assert env["on"] is True and env["version"] == 1 and env["offVariation"] == 1
    assert env["fallthrough"] == {"variation": 0} and isinstance(env["lastModified"], int)
    everything = ld.api("GET", FLAG_PATH).json()
    assert set(everything["environments"]) == {"local", "staging", "production"}


def test_semantic_patch_bumps_versions_and_is_idempotent(ld):
    first = ld.turn(False)
    assert first.status_code == 200
    assert first.json()["environments"]["local"]["on"] is False
    assert (first.json()["_version"], first.json()["environments"]["local"]["version"]) == (2, 2)
    again = ld.turn(False)
    assert again.status_code == 200
    assert (again.json()["_version"], again.json()["environments"]["local"]["version"]) == (2, 2)
    back = ld.turn(True).json()
    assert (back["_version"], back["environments"]["local"]["version"]) == (3, 3)
    staging = ld.turn(False, env="staging").json()
    assert staging["_version"] == 4
    assert staging["environments"]["staging"]["version"] == 2
    assert staging["environments"]["local"]["version"] == 3


def test_semantic_patch_body_sent_as_plain_json_is_400(ld):
    body = {"environmentKey": "local", "instructions": [{"kind": "turnFlagOff"}]}
    response = ld.api("PATCH", FLAG_PATH, json=body)
    assert response.status_code == 400
    assert set(response.json()) == {"code", "message", "id"}
    assert ld.flag()["environments"]["local"]["on"] is True


@pytest.mark.parametrize("body, message", [
    ({"environmentKey": "local", "instructions": [{"kind": "explode"}]}, "unsupported instruction"),
    ({"instructions": [{"kind": "turnFlagOff"}]}, "environmentKey"),
    ({"environmentKey": "mars", "instructions": [{"kind": "turnFlagOff"}]}, "mars"),
    ({"environmentKey": "local", "instructions": []}, "non-empty"),
])
def test_bad_semantic_patches_are_400_and_change_nothing(ld, body, message):
    response = ld.api("PATCH", FLAG_PATH, json=body, headers={"Content-Type": SEMANTIC})
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert ld.flag()["_version"] == 1


def test_json_patch_bare_array_and_with_comment(ld):
    off = [{"op": "replace", "path": "/environments/local/on", "value": False}]
    response = ld.api("PATCH", FLAG_PATH, json=off)
    assert response.status_code == 200 and response.json()["environments"]["local"]["on"] is False
    on = {"comment": "back", "patch": [{"op": "test", "path": "/version", "value": 2},
                                       {"op": "replace", "path": "/environments/local/on", "value": True}]}
    response = ld.api("PATCH", FLAG_PATH, json=on)
    assert response.status_code == 200 and response.json()["_version"] == 3


def test_json_patch_version_test_mismatch_is_409(ld):
    stale = [{"op": "test", "path": "/version", "value": 7},
             {"op": "replace", "path": "/environments/local/on", "value": False}]
    response = ld.api("PATCH", FLAG_PATH, json=stale)
    assert response.status_code == 409
    assert ld.flag()["environments"]["local"]["on"] is True


@pytest.mark.parametrize("ops", [
    [{"op": "replace", "path": "/environments/local/on", "value": "no"}],
    [{"op": "replace", "path": "/environments/nowhere/on", "value": False}],
    [{"op": "replace", "path": "/environments/local/offVariation", "value": 5}],
    {"not": "a patch"},
])
def test_bad_json_patches_are_400(ld, ops):
    assert ld.api("PATCH", FLAG_PATH, json=ops).status_code == 400
    assert ld.flag()["_version"] == 1


def test_dry_run_previews_without_saving(ld):
    body = {"environmentKey": "local", "instructions": [{"kind": "turnFlagOff"}]}
    response = ld.api("PATCH", FLAG_PATH, params={"dryRun": "true"}, json=body, headers={"Content-Type": SEMANTIC})
    assert response.status_code == 200 and response.json()["environments"]["local"]["on"] is False
    assert ld.flag()["environments"]["local"]["on"] is True


@pytest.mark.parametrize("headers", [{}, {"Authorization": "wrong"}, {"Authorization": "Bearer {token}"},
                                     {"Authorization": "{sdk}"}])
def test_api_token_is_required_raw(ld, headers):
    headers = {k: v.format(token=ld.token, sdk=ld.sdk_key) for k, v in headers.items()}
    response = httpx.get(ld.url + FLAG_PATH, headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"code", "message", "id"}


def test_api_version_header_is_accepted_and_checked(ld):
    assert ld.api("GET", FLAG_PATH, headers={"LD-API-Version": "beta"}).status_code == 200
    assert ld.api("GET", FLAG_PATH, headers={"LD-API-Version": "latest"}).status_code == 400
    assert ld.requests()[0]["ld_api_version"] == "beta"


def test_unknown_flag_and_project_are_404(ld):
    assert ld.api("GET", f"/api/v2/flags/{PROJECT}/nope").status_code == 404
    assert ld.api("GET", f"/api/v2/flags/nope/{FLAG}").status_code == 404
    assert ld.api("GET", FLAG_PATH, params={"env": "mars"}).status_code == 404


def test_conflicts_scenario_answers_409_for_the_next_patches(ld):
    ld.scenario(conflicts=2)
    assert [ld.turn(False).status_code for _ in range(3)] == [409, 409, 200]
    assert ld.flag()["_version"] == 2


def test_rate_limited_scenario_sends_retry_headers(ld):
    ld.scenario(rate_limited=1, retry_after_seconds=4)
    response = ld.api("GET", FLAG_PATH)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "4"
    assert int(response.headers["X-Ratelimit-Reset"]) > 1_000_000_000_000  # epoch milliseconds
    assert ld.api("GET", FLAG_PATH).status_code == 200


def test_forbidden_scenario_refuses_writes(ld):
    ld.scenario(forbidden=True)
    assert ld.turn(False).status_code == 403
    assert ld.api("GET", FLAG_PATH).status_code == 200


def test_scenario_get_merge_reset_and_validation(ld):
    assert ld.scenario(conflicts=1)["conflicts"] == 1
    assert ld.scenario(latency_seconds=0.01)["conflicts"] == 1
    bad = httpx.post(ld.url + "/_sandbox/scenario", json={"conflicts": 1, "nonsense": 1})
    assert bad.status_code == 400 and "nonsense" in bad.json()["message"]
    assert httpx.post(ld.url + "/_sandbox/scenario", json={"conflicts": -1}).status_code == 400
    assert httpx.get(ld.url + "/_sandbox/scenario").json()["latency_seconds"] == 0.01
    assert httpx.delete(ld.url + "/_sandbox/scenario").json()["conflicts"] == 0


def test_approvals_required_405_then_request_review_apply(ld):
    ld.scenario(approvals_required={"local": True})
    assert ld.turn(False).status_code == 405
    assert ld.turn(False, env="staging").status_code == 200  # only local needs approval
    created = ld.api("POST", APPROVALS, json={"description": "kill", "instructions": [{"kind": "turnFlagOff"}]})
    assert created.status_code == 201
    request_id = created.json()["_id"]
    assert created.json()["status"] == "pending"
    assert ld.api("GET", f"{APPROVALS}/{request_id}").json()["reviewStatus"] == "pending"
    assert ld.api("POST", f"{APPROVALS}/{request_id}/apply", json={}).status_code == 400  # not approved yet
    review = ld.api("POST", f"{APPROVALS}/{request_id}/reviews", json={"kind": "approve"})
    assert review.json()["reviewStatus"] == "approved"
    applied = ld.api("POST", f"{APPROVALS}/{request_id}/apply", json={"comment": "ok"})
    assert applied.status_code == 200 and applied.json()["status"] == "completed"
    assert ld.flag()["environments"]["local"]["on"] is False
    assert ld.api("GET", f"{APPROVALS}/unknown").status_code == 404


def test_approval_request_needs_description_and_valid_instructions(ld):
    assert ld.api("POST", APPROVALS, json={"instructions": [{"kind": "turnFlagOff"}]}).status_code == 400
    assert ld.api("POST", APPROVALS, json={"description": "d", "instructions": [{"kind": "x"}]}).status_code == 400


def test_request_log_records_without_credentials(ld):
    ld.turn(False)
    entry = ld.requests()[-1]
    assert entry["method"] == "PATCH" and entry["status"] == 200
    assert "semanticpatch" in entry["content_type"]
    assert ld.token not in str(ld.requests())


def test_state_persists_across_restarts(tmp_path):
    with Sandbox(["launchdarkly"], state_dir=tmp_path) as sb:
        headers = {"Authorization": sb.credentials.launchdarkly_api_token, "Content-Type": SEMANTIC}
        body = {"environmentKey": "production", "instructions": [{"kind": "turnFlagOff"}]}
        assert httpx.patch(sb.urls["launchdarkly"] + FLAG_PATH, headers=headers, json=body).status_code == 200
    with Sandbox(["launchdarkly"], state_dir=tmp_path) as sb:
        response = httpx.get(sb.urls["launchdarkly"] + FLAG_PATH, params={"env": "production"},
                             headers={"Authorization": sb.credentials.launchdarkly_api_token})
        env = response.json()["environments"]["production"]
        assert (env["on"], env["version"]) == (False, 2)
