"""Building a Pod's ``status`` from its containers' states, as a pure function.

Shape as a real kubelet reports it: phase, conditions (PodReadyToStartContainers,
Initialized, Ready, ContainersReady, PodScheduled), hostIP(s), podIP(s), startTime,
containerStatuses (state running / waiting / terminated, lastState, ready, started,
restartCount). Condition transition times are kept while a condition's status holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.sandbox.kube.controllers.spec import Obj, format_time

HOST_IP = "127.0.0.1"


@dataclass
class ContainerState:
    name: str
    image: str
    state: str = "waiting"                  # running | waiting | terminated
    reason: str = "ContainerCreating"       # waiting/terminated reason
    message: str = ""
    started_at: float | None = None
    ready: bool = False
    restart_count: int = 0
    last_terminated: dict[str, Any] | None = None
    exit_code: int | None = None
    finished_at: float | None = None
    container_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def terminate(self, exit_code: int, now: float) -> None:
        """The container has stopped for good (its pod is being deleted)."""
        self.state, self.ready, self.exit_code, self.finished_at = "terminated", False, exit_code, now
        self.reason = "Completed" if exit_code == 0 else "Error"
        self.message = ""

    def to_json(self) -> Obj:
        if self.state == "running":
            state: Obj = {"running": {"startedAt": format_time(self.started_at or 0)}}
        elif self.state == "terminated":
            state = {"terminated": {"exitCode": self.exit_code or 0, "reason": self.reason,
                                    "startedAt": format_time(self.started_at or 0),
                                    "finishedAt": format_time(self.finished_at or self.started_at or 0)}}
            if self.container_id:
                state["terminated"]["containerID"] = self.container_id
        else:
            state = {"waiting": {"reason": self.reason, **({"message": self.message} if self.message else {})}}
        out: Obj = {"name": self.name, "image": self.image, "imageID": f"sandbox://{self.image}",
                    "state": state, "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
                    "ready": self.ready, "restartCount": self.restart_count,
                    "started": self.state == "running"}
        if self.container_id:
            out["containerID"] = self.container_id
        return out


def phase(containers: list[ContainerState]) -> str:
    if containers and all(c.state == "terminated" for c in containers):
        return "Succeeded" if all(c.exit_code == 0 for c in containers) else "Failed"
    if any(c.state == "running" for c in containers):
        return "Running"
    if any(c.restart_count > 0 for c in containers):
        return "Running"
    return "Pending"


def _cond(previous: Obj, type_: str, value: bool, now: float, reason: str | None = None) -> Obj:
    status = "True" if value else "False"
    old = next((c for c in previous.get("conditions") or [] if c.get("type") == type_), None)
    since = old["lastTransitionTime"] if old and old.get("status") == status and old.get("lastTransitionTime") \
        else format_time(now)
    cond: Obj = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if reason and not value:
        cond["reason"] = reason
    return cond


def pod_status(pod: Obj, containers: list[ContainerState], now: float, pod_ip: str = HOST_IP) -> Obj:
    previous = pod.get("status") or {}
    all_ready = bool(containers) and all(c.ready for c in containers)
    started = any(c.state != "waiting" or c.restart_count for c in containers)
    finished = bool(containers) and all(c.state == "terminated" for c in containers)
    not_ready = "PodCompleted" if finished else "ContainersNotReady"
    status: Obj = {
        "phase": phase(containers),
        "conditions": [
            _cond(previous, "PodReadyToStartContainers", True, now),
            _cond(previous, "Initialized", True, now),
            _cond(previous, "Ready", all_ready, now, not_ready),
            _cond(previous, "ContainersReady", all_ready, now, not_ready),
            _cond(previous, "PodScheduled", True, now),
        ],
        "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}],
        "startTime": previous.get("startTime") or format_time(now),
        "containerStatuses": [c.to_json() for c in containers],
        "qosClass": "BestEffort",
    }
    if started or phase(containers) == "Running":
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    for cond in status["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady") and cond["status"] == "False" and not finished:
            waiting = [c.name for c in containers if not c.ready]
            cond["message"] = f"containers with unready status: [{' '.join(waiting)}]"
    return status
