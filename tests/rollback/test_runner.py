"""Running mechanisms in order; the done/remains summary."""
from dataclasses import dataclass

from pipeline.rollback import runner
from pipeline.rollback.result import Outcome, Plan, RollbackResult


@dataclass
class Fake:
    name: str
    outcome: Outcome | None       # None: raises
    calls: list

    def plan(self) -> Plan:
        return Plan(self.name, "now", "then")

    def execute(self, reason: str, dry_run: bool = False) -> RollbackResult:
        self.calls.append((self.name, reason, dry_run))
        if self.outcome is None:
            raise RuntimeError("token sdk-123 leaked")
        return RollbackResult(self.name, self.outcome, f"{self.name} {self.outcome.value}")


def test_all_succeed():
    calls = []
    run = runner.run([Fake("flag", Outcome.DONE, calls), Fake("undo", Outcome.ALREADY, calls)], "why")
    assert run.ok and run.summary() == "rollback complete: flag, undo"
    assert calls == [("flag", "why", False), ("undo", "why", False)]


def test_a_failure_does_not_stop_the_rest_and_is_named():
    calls, seen = [], []
    run = runner.run([Fake("flag", Outcome.FAILED, calls), Fake("undo", Outcome.DONE, calls),
                      Fake("git", None, calls)], "why", on_result=seen.append,
                     scrub=lambda t: t.replace("sdk-123", "***"))
    assert not run.ok and [c[0] for c in calls] == ["flag", "undo", "git"]
    assert run.summary() == "rollback incomplete: done: undo; remains: flag, git"
    assert run.results[2].outcome is Outcome.FAILED and "***" in run.results[2].detail
    assert "sdk-123" not in run.results[2].detail
    assert len(seen) == 3
    assert run.to_json()["remaining"] == ["flag", "git"]


def test_dry_run_summary():
    run = runner.run([Fake("undo", Outcome.DRY_RUN, [])], "x", dry_run=True)
    assert run.ok and "nothing changed" in run.summary()
    assert runner.summarise([]) == "rollback: nothing was asked"


def test_a_refused_or_pending_git_revert_does_not_fail_a_completed_flag_and_undo():
    from pipeline.cli.rollback import exit_code
    from pipeline.rollback.result import Outcome, RollbackResult
    from pipeline.rollback.runner import RollbackRun

    def run(*outcomes):
        return RollbackRun(tuple(RollbackResult(m, o, "x", 0.1) for m, o in outcomes), "r")

    assert exit_code(run(("flag", Outcome.DONE), ("undo", Outcome.DONE), ("git", Outcome.FAILED))) == 0
    assert exit_code(run(("undo", Outcome.DONE), ("git", Outcome.PENDING_APPROVAL))) == 0
    assert exit_code(run(("git", Outcome.FAILED),)) == 6
    assert exit_code(run(("flag", Outcome.DONE), ("undo", Outcome.FAILED), ("git", Outcome.DONE))) == 6
    assert "remains: git" in run(("undo", Outcome.DONE), ("git", Outcome.FAILED)).summary()
