"""The runner: concurrency, timeouts and exceptions as ERROR, --skip, exit codes, bad configuration."""
import asyncio
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.exit_codes import ExitCode
from pipeline.preflight import Finding, Verdict, parse_skip, run_preflight
from pipeline.preflight.checks import CHECK_NAMES
from pipeline.preflight.report import to_json

CONFIG_FILE = Path(__file__).resolve().parents[2] / "pipeline.toml"


@dataclass
class Rendezvous:
    """Checks that only finish once all of them have started: sequential running would time out."""
    expected: int
    started: int = 0
    event: asyncio.Event | None = None

    async def arrive(self) -> None:
        self.event = self.event or asyncio.Event()
        self.started += 1
        if self.started == self.expected:
            self.event.set()
        await self.event.wait()


@dataclass
class Probe:
    name: str
    rendezvous: Rendezvous
    timeout: float = 2.0
    title: str = "probe"

    async def run(self, ctx) -> Finding:
        await self.rendezvous.arrive()
        return Finding(Verdict.PASS, f"{self.name} met the others")


@dataclass
class Scripted:
    name: str
    behaviour: str
    timeout: float = 0.2
    title: str = "scripted"

    async def run(self, ctx) -> Finding:
        if self.behaviour == "raise":
            raise RuntimeError(f"boom with {ctx.secrets.private_key.reveal()}")
        if self.behaviour == "hang":
            await asyncio.sleep(30)
        return Finding(Verdict[self.behaviour], f"said {self.behaviour}")


def test_checks_run_concurrently(config, make_app):
    meeting = Rendezvous(3)
    report = run_preflight(config, checks=[Probe(n, meeting) for n in ("a", "b", "c")], app_source=make_app())
    assert [r.verdict for r in report.results] == [Verdict.PASS] * 3
    # every check started before any finished: their recorded intervals overlap
    assert max(r.started for r in report.results) < min(r.finished for r in report.results)


def test_real_network_checks_overlap(run, scenario):
    scenario("klaviyo", {"latency_seconds": 0.2})
    scenario("status", {"latency_seconds": 0.2})
    report = run()
    network = [report.result(n) for n in ("status-page", "api-auth", "rate-limit")]
    assert all(r.verdict is Verdict.PASS for r in network)
    assert max(r.started for r in network) < min(r.finished for r in network)


def test_exception_and_timeout_are_errors_never_passes(config, make_app, sb):
    checks = [Scripted("x", "raise"), Scripted("y", "hang"), Scripted("z", "PASS")]
    report = run_preflight(config, checks=checks, app_source=make_app())
    x, y, z = report.results
    assert (x.verdict, x.detail) == (Verdict.ERROR, "could not run: RuntimeError: boom with ***")
    assert sb.credentials.klaviyo_private_key not in to_json(report)
    assert (y.verdict, y.detail) == (Verdict.ERROR, "timed out after 0.2 s (its timeout)")
    assert z.verdict is Verdict.PASS
    assert report.exit_code is ExitCode.CHECK_ERROR


@pytest.mark.parametrize("verdicts, code", [
    (["PASS", "WARN", "SKIPPED"], ExitCode.OK),
    (["PASS", "ERROR"], ExitCode.CHECK_ERROR),
    (["ERROR", "FAIL", "WARN"], ExitCode.FAILED_CHECK),
])
def test_exit_codes(config, make_app, verdicts, code):
    checks = [Scripted(f"c{i}", v) for i, v in enumerate(verdicts)]
    report = run_preflight(config, checks=checks, app_source=make_app())
    assert report.exit_code is code


@pytest.mark.parametrize("name, module, function", [
    ("revision", "pipeline.preflight.checks.revision", "evaluate_revision"),
    ("sdk-pin", "pipeline.preflight.checks.sdk_pin", "collect_pins"),
])
def test_pure_checks_error_when_they_cannot_run(run, monkeypatch, name, module, function):
    import importlib
    def broken(*args):
        raise OSError("disk gone")
    monkeypatch.setattr(importlib.import_module(module), function, broken)
    result = run(skip=["status-page", "api-auth", "rate-limit"]).result(name)
    assert (result.verdict, result.detail) == (Verdict.ERROR, "could not run: OSError: disk gone")


def test_skip_is_repeatable_and_comma_separated_and_recorded(run, accounts_log):
    report = run(skip=["api-auth,rate-limit", "status-page"])
    assert report.skipped == ("api-auth", "rate-limit", "status-page")
    assert report.result("api-auth").verdict is Verdict.SKIPPED
    assert report.result("api-auth").detail == "skipped by --skip"
    data = json.loads(to_json(report))
    assert data["skipped"] == ["api-auth", "rate-limit", "status-page"]
    assert [c["name"] for c in data["checks"]] == list(CHECK_NAMES)
    assert accounts_log() == []
    assert report.exit_code is ExitCode.OK


def test_unknown_skip_is_a_usage_error():
    with pytest.raises(ConfigError, match=r"--skip: unknown check 'dns'; accepted: status-page, api-auth"):
        parse_skip(["revision,dns"])


def test_missing_private_key_is_a_configuration_error(config, make_app, environ, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # a .sandbox/env left in the working directory must not supply it
    env = environ()
    del env["KLAVIYO_PRIVATE_KEY"]
    cfg = load_config("local", CONFIG_FILE, environ=env)
    with pytest.raises(ConfigError, match=r"env.local.secrets.private_key: KLAVIYO_PRIVATE_KEY is not set in "
                                          r"environment variables \(needed by api-auth, rate-limit\)"):
        run_preflight(cfg, app_source=make_app())


def test_missing_app_source_is_a_configuration_error(config, tmp_path):
    with pytest.raises(ConfigError, match=r"env.local.klaviyo.app_source: directory .*nowhere' not found"):
        run_preflight(config, app_source=tmp_path / "nowhere")
    report = run_preflight(config, app_source=tmp_path / "nowhere", skip=["sdk-pin,hardcoded-keys", "api-auth",
                                                                           "rate-limit", "status-page"])
    assert report.exit_code is ExitCode.OK


def test_bad_environment_and_revision_are_configuration_errors(tmp_path, environ):
    with pytest.raises(ConfigError, match="unknown environment 'qa'"):
        load_config("qa", CONFIG_FILE, environ=environ())
    toml = tmp_path / "pipeline.toml"
    toml.write_text('[env.local]\n[env.local.klaviyo]\nrevision = "2026-10"\n')
    with pytest.raises(ConfigError, match=r"env.local.klaviyo.revision: '2026-10' is not a revision date"):
        load_config("local", toml, environ=environ())


def test_bad_url_is_a_configuration_error(config, make_app):
    cfg = dataclasses.replace(config, klaviyo=dataclasses.replace(config.klaviyo, base_url="a.klaviyo.com"))
    with pytest.raises(ConfigError, match=r"env.local.klaviyo.base_url: 'a.klaviyo.com' is not an http\(s\) URL"):
        run_preflight(cfg, app_source=make_app())


def test_overall_verdict_ignores_skipped(run):
    report = run(skip=["status-page", "api-auth", "rate-limit"])
    assert report.verdict is Verdict.PASS
    assert json.loads(to_json(report))["verdict"] == "PASS"
