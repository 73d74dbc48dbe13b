"""Finishing what a dead deploy left behind (SIGKILL, a lost runner, a second Ctrl-C).

A deploy records its :class:`~pipeline.deploy.state.Intent` in the lock's Lease before every
effect that may change the cluster. When its process dies the Lease stops being renewed;
the next ``invoke deploy`` or ``invoke rollback`` takes the stale Lease over, finds the
intent, and converges:

* a release that was verified (passed every gate and the bake) is kept;
* a release that was never verified is never trusted: the Deployment is returned to the
  pod template that was serving before (by content, so the renumbering an undo does cannot
  lose it) and unpaused, and the kill switch goes back to the state it had before;
* a first release (no Deployment existed before it) that was never verified is removed: the
  objects the dead deploy created are deleted, as ``helm install --atomic`` does;
* with no intent recorded, a paused Deployment is only resumed.

:func:`decide` is pure; :func:`converge` performs its plan through :class:`Adapters`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kubernetes import client

from pipeline.config import EnvConfig
from pipeline.deploy.state import Intent
from pipeline.kube import history
from pipeline.kube.client import read_deployment
from pipeline.secrets import SecretSource


@dataclass(frozen=True)
class Live:
    """The Deployment as found: does it exist, is it paused, which template does it run."""
    exists: bool
    paused: bool = False
    template: dict[str, Any] | None = None


@dataclass(frozen=True)
class Plan:
    undo_to: dict[str, Any] | None       # return to this pod template (and unpause)
    resume: bool                         # only unpause
    restore_flag: bool                   # turn the kill switch back ON (it was ON before the dead deploy)
    reason: str
    impossible: str = ""                 # cannot converge automatically: why
    remove: tuple[str, ...] = ()         # a first release: delete these (Kind/name) the dead deploy created

    @property
    def nothing(self) -> bool:
        return (self.undo_to is None and not self.resume and not self.restore_flag and not self.impossible
                and not self.remove)


def decide(dead: Intent | None, live: Live) -> Plan:
    if dead is None:
        if live.paused:
            return Plan(None, True, False, "the Deployment is paused but no interrupted deploy is recorded; "
                                           "resuming it so the rollout can finish")
        return Plan(None, False, False, "no interrupted deploy")
    who = f"deploy {dead.deploy_id} of {dead.image} by {dead.holder} (started {dead.started}, stopped at {dead.phase})"
    restore = dead.flag_turned_off and dead.flag_before is True
    if dead.verified or not dead.changed:
        state = "verified its release" if dead.verified else "stopped before it changed the cluster"
        return Plan(None, live.paused, restore, f"{who} {state}" + ("; unpausing" if live.paused else ""))
    if not live.exists:
        return Plan(None, False, restore, f"{who}: the Deployment no longer exists; nothing to undo")
    if dead.first_release:
        return Plan(None, False, restore, f"{who} left its first release unverified; there was no release "
                    "before it, so it is removed", remove=dead.first_release)
    if dead.from_template is None:      # an intent written before deploys recorded what they create
        return Plan(None, False, restore, f"{who}", impossible=f"{who} created the Deployment; there is no "
                    "earlier release to return to: delete it or deploy a known-good image")
    back = live.template is not None and history.equal_ignore_hash(live.template, dead.from_template)
    if back and not live.paused:
        return Plan(None, False, restore, f"{who}; the release that was serving before ({dead.from_image}) is back")
    return Plan(dead.from_template, False, restore, f"{who} left {dead.image} unverified; returning to "
                f"{dead.from_image}, since an unverified release is never trusted")


@dataclass(frozen=True)
class Converged:
    actions: tuple[str, ...]
    detail: str
    failed: bool = False


@dataclass
class Adapters:
    """The effects recovery needs, over the real clients."""
    config: EnvConfig
    api: client.ApiClient
    secrets: SecretSource | None
    on_action: Callable[[Any], None]

    def live(self) -> Live:
        obj = read_deployment(self.api, self.config.kube.namespace, self.config.kube.deployment)
        if obj is None:
            return Live(False)
        return Live(True, bool(obj["spec"].get("paused")), obj["spec"]["template"])

    def undo(self, template: dict[str, Any], reason: str) -> tuple[bool, str]:
        return self._undo(reason, resume_paused=True, to_template=template)

    def remove(self, objects: tuple[str, ...], reason: str) -> tuple[bool, str]:
        return self._undo(reason, remove_created=objects)

    def _undo(self, reason: str, **options: Any) -> tuple[bool, str]:
        """The rollback's undo mechanism (to a template, or removing a first release), reported."""
        from pipeline.rollback import factory, runner

        built = factory.build(["undo"], self.config, factory.Options(api_client=self.api, secrets=self.secrets,
                                                                     **options))
        result = runner.run(built.mechanisms, reason).results[0]
        self.on_action(result)
        return result.ok, result.detail

    def resume(self) -> tuple[bool, str]:
        from pipeline.deploy.gated_rollout import Rollout

        Rollout(self.api, self.config.kube.namespace, self.config.kube.deployment).set_paused(False)
        return True, "resumed"

    def restore_flag(self, reason: str) -> tuple[bool, str]:
        from pipeline.rollback.flag_kill_switch import FlagKillSwitch

        result = FlagKillSwitch(self.config, self.secrets).turn_on(reason)
        self.on_action(result)
        return result.ok, result.detail


def converge(dead: Intent | None, adapters: Adapters) -> Converged:
    plan = decide(dead, adapters.live())
    if plan.impossible:
        return Converged((), plan.impossible, failed=True)
    done: list[str] = []
    steps: list[tuple[str, Callable[[], tuple[bool, str]]]] = []
    if plan.undo_to is not None:
        steps.append(("undo", lambda: adapters.undo(plan.undo_to or {}, f"recovering: {plan.reason}")))
    if plan.remove:
        steps.append(("remove", lambda: adapters.remove(plan.remove, f"recovering: {plan.reason}")))
    if plan.resume:
        steps.append(("resume", adapters.resume))
    if plan.restore_flag:
        steps.append(("flag on", lambda: adapters.restore_flag(f"recovering: {plan.reason}")))
    for name, step in steps:
        ok, detail = step()
        if not ok:
            return Converged(tuple(done), f"{plan.reason}; {name} failed: {detail}", failed=True)
        done.append(name)
    return Converged(tuple(done), plan.reason + (f" ({', '.join(done)})" if done else ""))
