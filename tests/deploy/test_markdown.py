from pipeline.ci import detect
from pipeline.deploy.result import DeployOutcome, DeployResult, StageRecord
from pipeline.report.markdown import append_summary, deploy_summary, rollback_summary


def sample() -> DeployResult:
    result = DeployResult(env="staging", app="klaviyo-sync", image="klaviyo-sync:1.4.0",
                          previous_image="klaviyo-sync:1.3.0", commit="a" * 40, actor="octocat")
    result.stages.append(StageRecord("preflight", "passed", "7 checks passed", 1.2))
    result.preflight = {"checks": [{"name": "rate_limit", "verdict": "pass",
                                    "detail": "RateLimit-Remaining 14 >= floor 5", "duration_seconds": 0.3}],
                        "skipped": ["sdk_pin"]}
    result.verdicts = [{"stage": "gate 1/3", "name": "auth_errors", "passed": False, "value": 3, "threshold": 0,
                        "source": "pod a /metrics", "detail": "401/403 3 > 0 | P1"}]
    result.rollback = [{"mechanism": "undo", "outcome": "done", "detail": "revision 4 -> 5", "duration_seconds": 2.0}]
    return result.finish(DeployOutcome.ROLLED_BACK, "auth errors at gate 1/3")


def test_deploy_summary_has_every_section():
    text = deploy_summary(sample().to_json())
    assert text.startswith("## Deploy klaviyo-sync to staging: ↩️ rolled_back")
    for fragment in ["### Stages", "### Preflight", "RateLimit-Remaining 14 >= floor 5", "Skipped on request: sdk_pin",
                     "### Verification", "401/403 3 > 0 \\| P1", "### Rollback", "revision 4 -> 5", "aaaaaaaaaaaa |"]:
        assert fragment in text
    assert sample().to_json()["exit_code"] == 5


def test_rollback_summary():
    text = rollback_summary({"env": "prod", "app": "x", "ok": False, "reason": "5xx storm",
                             "summary": "done: flag; remains: undo",
                             "results": [{"mechanism": "flag", "outcome": "done", "detail": "off", "duration_seconds": 0.4}]})
    assert "🚨 rollback_failed" in text and "done: flag; remains: undo" in text and "| flag | ✅ done |" in text


def test_summary_only_written_in_github_actions(tmp_path):
    path = tmp_path / "summary.md"
    github = detect({"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(path), "GITHUB_ACTOR": "octocat",
                     "GITHUB_RUN_ID": "42", "GITHUB_REPOSITORY": "acme/app"})
    assert github.ci and github.actor == "octocat"
    assert github.run_url == "https://github.com/acme/app/actions/runs/42"
    assert append_summary(github.step_summary, "# hi\n") and path.read_text() == "# hi\n"
    laptop = detect({"USER": "dana"})
    assert not laptop.ci and laptop.actor == "dana" and not append_summary(laptop.step_summary, "x")
    assert detect({"CI": "true", "USER": "runner"}).ci
