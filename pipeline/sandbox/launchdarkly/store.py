"""The stand-in's state: projects' flags, SDK streams, approval requests, scenario, request log.

Lives in ``app["state"]``; every method runs on the sandbox's event loop. A change made
through the REST API is pushed at once, as a ``patch`` event, onto the queue of every SDK
stream connected to that project and environment.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.flags import ProjectDefinition
from pipeline.sandbox.launchdarkly import model
from pipeline.sandbox.launchdarkly.model import FlagRecord, LdError

REQUEST_LOG_LIMIT = 2000
SCENARIO_KEYS = ("approvals_required", "conflicts", "rate_limited", "retry_after_seconds",
                 "latency_seconds", "forbidden")


@dataclass
class Scenario:
    approvals_required: dict[str, bool] = field(default_factory=dict)  # env -> PATCH answers 405
    conflicts: int = 0                  # next N flag PATCHes answer 409
    rate_limited: int = 0               # next N REST requests answer 429
    retry_after_seconds: int = 1        # Retry-After of those 429s
    latency_seconds: float = 0.0        # added before every REST response
    forbidden: bool = False             # writes answer 403, as for a reader-role token

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SCENARIO_KEYS}

    def merge(self, patch: Any) -> None:
        if not isinstance(patch, dict):
            raise LdError(400, "invalid_request", f"scenario must be an object with keys {', '.join(SCENARIO_KEYS)}")
        for key, value in patch.items():
            if key not in SCENARIO_KEYS:
                raise LdError(400, "invalid_request", f"unknown scenario key {key!r}; accepted: {', '.join(SCENARIO_KEYS)}")
            setattr(self, key, _scenario_value(key, value))


def _scenario_value(key: str, value: Any) -> Any:
    if key == "approvals_required":
        if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
            raise LdError(400, "invalid_request", "approvals_required must map environment keys to true/false")
        return dict(value)
    if key == "forbidden":
        if not isinstance(value, bool):
            raise LdError(400, "invalid_request", "forbidden must be true or false")
        return value
    number_ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    if not number_ok or (key != "latency_seconds" and not isinstance(value, int)):
        kind = "a number of seconds >= 0" if key == "latency_seconds" else "an integer >= 0"
        raise LdError(400, "invalid_request", f"{key} must be {kind}, got {value!r}")
    return value


@dataclass(frozen=True)
class SdkEnvironment:
    project: str
    environment: str


class LdStore:
    def __init__(self, projects: dict[str, ProjectDefinition], sdk_keys: dict[str, SdkEnvironment],
                 api_token: str, state_file: Path | None = None) -> None:
        self.projects = projects
        self.sdk_keys = sdk_keys
        self.api_token = api_token
        self.state_file = state_file
        self.flags: dict[str, dict[str, FlagRecord]] = {key: model.seed(p) for key, p in projects.items()}
        self.approvals: dict[str, dict[str, Any]] = {}
        self.scenario = Scenario()
        self.requests: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []   # an audit trail: who changed what, with which comment
        self.streams: dict[SdkEnvironment, set[asyncio.Queue[str | None]]] = {}
        self.heartbeat_seconds = 3.0     # between ":" comments on idle SDK streams
        self.heartbeats_sent = 0
        self._load()

    # ------------------------------------------------------------ lookups

    def record(self, project: str, key: str) -> FlagRecord:
        if project not in self.flags:
            raise LdError(404, "not_found", f"unknown project {project!r}")
        record = self.flags[project].get(key)
        if record is None or record.deleted:
            raise LdError(404, "not_found", f"unknown flag {key!r} in project {project!r}")
        return record

    def environments(self, project: str) -> tuple[str, ...]:
        return self.projects[project].environments

    def sdk_payload(self, where: SdkEnvironment) -> dict[str, Any]:
        flags = {key: model.sdk_flag(r, where.environment)
                 for key, r in self.flags[where.project].items() if not r.deleted}
        return {"flags": flags, "segments": {}}

    # ------------------------------------------------------------ changes

    def change(self, record: FlagRecord, after: dict[str, model.EnvState], comment: str = "",
               via: str = "") -> list[str]:
        changed = model.commit(record, after)
        if changed:
            self.changes.append({"time": time.time(), "project": record.project, "flag": record.key,
                                 "environments": changed, "version": record.version, "via": via,
                                 "comment": comment, "on": {env: record.envs[env].on for env in changed}})
        for env in changed:
            self.publish(SdkEnvironment(record.project, env), "patch",
                         {"path": f"/flags/{record.key}", "data": model.sdk_flag(record, env)})
        if changed:
            self._save()
        return changed

    def delete(self, record: FlagRecord) -> None:
        record.deleted = True
        record.version += 1
        for env, state in record.envs.items():
            state.version += 1
            self.publish(SdkEnvironment(record.project, env), "delete",
                         {"path": f"/flags/{record.key}", "version": state.version})
        self._save()

    def reset_flags(self) -> None:
        """Back to the definitions in flags/, with versions above the current ones (SDKs accept only newer)."""
        for project_key, project in self.projects.items():
            for key, fresh in model.seed(project).items():
                old = self.flags[project_key].get(key)
                if old is not None:
                    fresh.version = old.version + 1
                    for env, state in fresh.envs.items():
                        state.version = old.envs[env].version + 1
                self.flags[project_key][key] = fresh
                for env in fresh.envs:
                    self.publish(SdkEnvironment(project_key, env), "patch",
                                 {"path": f"/flags/{key}", "data": model.sdk_flag(fresh, env)})
        self.approvals.clear()
        self._save()

    # ------------------------------------------------------------ approvals

    def create_approval(self, record: FlagRecord, env: str, body: Any) -> dict[str, Any]:
        if env not in record.envs:
            raise LdError(404, "not_found", f"unknown environment {env!r} in project {record.project!r}")
        if not isinstance(body, dict) or not isinstance(body.get("description"), str) or not body["description"]:
            raise LdError(400, "invalid_request", "an approval request needs a non-empty description")
        model.apply_instructions(record, env, body.get("instructions"))  # validate now, apply later
        request_id = uuid.uuid4().hex[:24]
        approval = {
            "_id": request_id, "_version": 1, "creationDate": model.now_ms(),
            "requestorId": "sandbox-member", "description": body["description"],
            "comment": body.get("comment", ""), "reviewStatus": "pending", "status": "pending",
            "allReviews": [], "notifyMemberIds": list(body.get("notifyMemberIds") or []),
            "instructions": body["instructions"], "conflicts": [], "executionDate": body.get("executionDate"),
            "operatingOnId": None, "appliedDate": None, "appliedByMemberId": None,
            "_links": {"self": {"href": self.approval_path(record, env, request_id), "type": "application/json"}},
        }
        self.approvals[request_id] = {"project": record.project, "flag": record.key, "env": env, "body": approval}
        return approval

    @staticmethod
    def approval_path(record: FlagRecord, env: str, request_id: str) -> str:
        return (f"/api/v2/projects/{record.project}/flags/{record.key}/environments/{env}"
                f"/approval-requests/{request_id}")

    def approval(self, project: str, key: str, env: str, request_id: str) -> dict[str, Any]:
        entry = self.approvals.get(request_id)
        if entry is None or (entry["project"], entry["flag"], entry["env"]) != (project, key, env):
            raise LdError(404, "not_found", f"unknown approval request {request_id!r}")
        return entry["body"]

    def review(self, approval: dict[str, Any], body: Any) -> dict[str, Any]:
        kind = body.get("kind") if isinstance(body, dict) else None
        if kind not in ("approve", "decline", "comment"):
            raise LdError(400, "invalid_request", f"review kind {kind!r}; accepted: approve, decline, comment")
        approval["allReviews"].append({"_id": uuid.uuid4().hex[:24], "kind": kind, "memberId": "sandbox-reviewer",
                                       "creationDate": model.now_ms(), "comment": body.get("comment", "")})
        if kind != "comment":
            approval["reviewStatus"] = "approved" if kind == "approve" else "declined"
        approval["_version"] += 1
        return approval

    def apply_approval(self, record: FlagRecord, env: str, approval: dict[str, Any]) -> dict[str, Any]:
        if approval["status"] == "completed":
            raise LdError(400, "invalid_request", "this approval request has already been applied")
        if approval["reviewStatus"] != "approved":
            raise LdError(400, "invalid_request", f"approval request is {approval['reviewStatus']}, "
                          "not approved; it cannot be applied")
        self.change(record, model.apply_instructions(record, env, approval["instructions"]),
                    approval.get("comment", ""), "approval-request")
        approval.update(status="completed", appliedDate=model.now_ms(), appliedByMemberId="sandbox-member")
        approval["_version"] += 1
        return approval

    # ------------------------------------------------------------ streams

    def subscribe(self, where: SdkEnvironment) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.streams.setdefault(where, set()).add(queue)
        return queue

    def unsubscribe(self, where: SdkEnvironment, queue: asyncio.Queue[str | None]) -> None:
        self.streams.get(where, set()).discard(queue)

    def publish(self, where: SdkEnvironment, event: str, data: dict[str, Any]) -> None:
        message = sse(event, data)
        for queue in self.streams.get(where, ()):
            queue.put_nowait(message)

    def close_streams(self) -> None:
        for queues in self.streams.values():
            for queue in queues:
                queue.put_nowait(None)

    def stream_count(self) -> int:
        return sum(len(q) for q in self.streams.values())

    # ------------------------------------------------------------ log

    def log(self, entry: dict[str, Any]) -> None:
        self.requests.append(entry)
        del self.requests[:-REQUEST_LOG_LIMIT]

    # ------------------------------------------------------------ persistence

    def _save(self) -> None:
        if self.state_file is None:
            return
        data = {p: {k: r.state() for k, r in flags.items()} for p, flags in self.flags.items()}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data))
        tmp.replace(self.state_file)

    def _load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        saved = json.loads(self.state_file.read_text())
        for project, flags in saved.items():
            for key, state in flags.items():
                record = self.flags.get(project, {}).get(key)
                if record is not None:
                    record.restore(state)


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def now_epoch_ms(offset_seconds: float = 0.0) -> int:
    return int((time.time() + offset_seconds) * 1000)
