"""The deploy lock: one Kubernetes Lease per app and environment (coordination.k8s.io/v1).

``deploy-lock-<app>-<env>`` in the deploy namespace. ``holderIdentity`` is
``<user>@<host>/<pid>/<uuid>`` and the annotation ``pipeline.deploy/lock-holder`` carries
JSON for humans (who, since, image, env, run URL). The protocol is client-go's LeaseLock:

* GET; 404 -> POST the Lease (409 AlreadyExists: another deploy won the race);
* held by another and ``renewTime + leaseDurationSeconds > now`` -> :class:`LockHeld`
  naming the holder and since when; nothing is changed;
* free (released) or expired -> PUT with the resourceVersion that was read (409 Conflict:
  lost the race), ``leaseTransitions + 1`` (as client-go: whenever we were not the holder);
* while held, a background thread renews ``renewTime`` when 5 s of the lease are left (a third
  of a lease over 15 s; :func:`renew_margin`), as client-go's leader election renews within its
  renewDeadline, and every 2 s after a failed attempt (its retryPeriod); if renewal fails past
  the lease's expiry, or another holder appears, ``lost`` is set;
* release: PUT clearing the holder (keeps the Lease; a 409 means it is no longer ours and
  is left alone).

MicroTime values are written with exactly six fraction digits and ``Z``: a real 1.32 API
server rejects other spellings (the python client's model serialiser drops the fraction when
microsecond == 0), so the Lease is sent as plain JSON through the client's ApiClient.
Expiry is judged with this machine's clock against the holder's ``renewTime``; clocks more
than a few seconds apart shift the expiry by the skew (docs/audit.md, "Deploy lock").
"""
from __future__ import annotations

import getpass
import json
import os
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from pipeline.config import EnvConfig

INFO_ANNOTATION = "pipeline.deploy/lock-holder"
OUTCOME_ANNOTATION = "pipeline.deploy/last-outcome"   # what the last holder ended with (abort reports it)
ABORT_ANNOTATION = "pipeline.deploy/abort-request"    # pipeline.abort: a request for the holder to stop
DEFAULT_DURATION_SECONDS = 60
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


class LockError(RuntimeError):
    """The lock could not be taken or kept."""


class LockHeld(LockError):
    """Another deploy holds the lock (exit code LOCKED)."""

    def __init__(self, status: "LeaseStatus", lease_name: str):
        self.status = status
        who = status.info.get("who") or status.holder
        since = status.since.strftime("%Y-%m-%d %H:%M:%S UTC") if status.since else "an unknown time"
        image = f" deploying {status.info['image']}" if status.info.get("image") else ""
        expires = f"; it expires at {status.expires_at:%H:%M:%S} UTC unless renewed" if status.expires_at else ""
        super().__init__(f"lease {lease_name} is held by {who}{image} since {since} "
                         f"(holder {status.holder}){expires}")


class LockLost(LockError):
    """Another client took the lease, or it could not be acquired in a race."""


# --------------------------------------------------------------------------- pure parts

def micro_time(moment: datetime) -> str:
    """Kubernetes MicroTime: ``2026-11-22T17:30:31.336676Z`` (always six digits, UTC, Z)."""
    if moment.tzinfo is None:
        raise ValueError(f"MicroTime needs an aware datetime, got naive {moment!r}")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    """Parse an RFC 3339 time as the API server returns it (any fraction length, Z or offset)."""
    if not text:
        return None
    match = re.fullmatch(r"(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", str(text).strip())
    if not match:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    base, fraction, zone = match.groups()
    fraction = (fraction or "0")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{base}.{fraction}{'+00:00' if zone == 'Z' else zone}").astimezone(timezone.utc)


def lease_name(app: str, env: str) -> str:
    """``deploy-lock-<app>-<env>`` as a valid object name (lowercase, [a-z0-9-], <= 253)."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"deploy-lock-{app}-{env}".lower()).strip("-")
    return name[:253]


def make_identity(user: str | None = None, host: str | None = None, pid: int | None = None,
                  token: str | None = None) -> str:
    """``<user>@<host>/<pid>/<uuid>``: unique per process and lock attempt."""
    return (f"{user or _user()}@{host or socket.gethostname()}/{pid if pid is not None else os.getpid()}"
            f"/{token or uuid.uuid4().hex}")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class LeaseStatus:
    """Who holds a Lease at ``now``, from its JSON."""
    holder: str                    # "" when nobody
    held: bool                     # a holder whose lease has not expired
    since: datetime | None         # acquireTime
    renewed: datetime | None
    expires_at: datetime | None
    duration_seconds: int
    transitions: int
    info: dict[str, Any] = field(default_factory=dict)   # the human annotation
    reason: str = ""

    def held_by_other(self, identity: str) -> bool:
        return self.held and self.holder != identity


def lease_status(lease: Mapping[str, Any] | None, now: datetime) -> LeaseStatus:
    """Pure: is the lease held at ``now``, by whom, since when, until when."""
    if lease is None:
        return LeaseStatus("", False, None, None, None, 0, 0, reason="no lease")
    spec = lease.get("spec") or {}
    annotations = (lease.get("metadata") or {}).get("annotations") or {}
    try:
        info = json.loads(annotations.get(INFO_ANNOTATION, "{}"))
    except json.JSONDecodeError:
        info = {"raw": annotations.get(INFO_ANNOTATION)}
    holder = spec.get("holderIdentity") or ""
    duration = int(spec.get("leaseDurationSeconds") or 0)
    since = parse_time(spec.get("acquireTime"))
    renewed = parse_time(spec.get("renewTime")) or since
    transitions = int(spec.get("leaseTransitions") or 0)
    if not holder:
        return LeaseStatus("", False, since, renewed, None, duration, transitions, info, "released")
    if renewed is None or duration <= 0:
        return LeaseStatus(holder, False, since, renewed, None, duration, transitions, info,
                           "no renewTime or leaseDurationSeconds: treated as expired")
    expires = renewed + timedelta(seconds=duration)
    if expires > now:
        return LeaseStatus(holder, True, since, renewed, expires, duration, transitions, info, "held")
    return LeaseStatus(holder, False, since, renewed, expires, duration, transitions, info,
                       f"expired at {micro_time(expires)}")


def claimed(lease: Mapping[str, Any] | None, identity: str, duration: int, now: datetime,
            info: Mapping[str, Any], namespace: str, name: str) -> dict[str, Any]:
    """The Lease JSON that makes ``identity`` the holder (a new one, or a takeover of ``lease``)."""
    stamp = micro_time(now)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    transitions = 0
    if lease is not None:
        metadata = dict(lease.get("metadata") or {})
        spec = lease.get("spec") or {}
        transitions = int(spec.get("leaseTransitions") or 0)
        if spec.get("holderIdentity") != identity:      # client-go: +1 whenever we were not the holder
            transitions += 1
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(ABORT_ANNOTATION, None)           # a request to stop was for the previous holder
    annotations[INFO_ANNOTATION] = json.dumps(dict(info), sort_keys=True)
    metadata["annotations"] = annotations
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
            "spec": {"holderIdentity": identity, "leaseDurationSeconds": duration, "acquireTime": stamp,
                     "renewTime": stamp, "leaseTransitions": transitions}}


def with_info(lease: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    """The lease with ``info`` merged into its holder annotation."""
    body = json.loads(json.dumps(lease))
    annotations = body.setdefault("metadata", {}).setdefault("annotations", {})
    current = json.loads(annotations.get(INFO_ANNOTATION) or "{}")
    annotations[INFO_ANNOTATION] = json.dumps({**current, **info}, sort_keys=True)
    return body


def renewed(lease: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    body = json.loads(json.dumps(lease))
    body["spec"]["renewTime"] = micro_time(now)
    return body


def released(lease: Mapping[str, Any], now: datetime, keep_record: bool = False,
             outcome: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Lease with no holder (client-go's release: keep the object, clear the holder), the
    abort request answered, and ``outcome`` left for whoever asks what happened."""
    body = json.loads(json.dumps(lease))
    body["spec"].pop("holderIdentity", None)
    body["spec"]["renewTime"] = micro_time(now)
    body["spec"]["leaseDurationSeconds"] = 1
    annotations = body.setdefault("metadata", {}).setdefault("annotations", {})
    annotations.pop(ABORT_ANNOTATION, None)
    if outcome is not None:
        annotations[OUTCOME_ANNOTATION] = json.dumps(dict(outcome), sort_keys=True)
    if not keep_record:
        annotations.pop(INFO_ANNOTATION, None)
    return body


# --------------------------------------------------------------------------- the API adapter

class ApiStatusError(LockError):
    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(f"HTTP {status}: {message}")


# client-go's leader election (leaseDuration 15 s, renewDeadline 10 s, retryPeriod 2 s): the
# holder renews with 5 s of its lease to spare and, after a failed attempt, tries every 2 s.
RENEW_MARGIN_SECONDS = 5.0
RETRY_PERIOD_SECONDS = 2.0


def renew_margin(duration: float) -> float:
    """Seconds of the lease still left when it is renewed (pure): at least 5 s as client-go keeps
    (a third of a long lease, for clock skew and a slow API), at most two thirds of a short one.
    15 s -> renewed every 10 s; 30 s -> every 20 s; 3 s (tests) -> every second."""
    return min(duration * 2 / 3, max(duration / 3, RENEW_MARGIN_SECONDS))


def next_renewal(landed: bool, interval: float) -> float:
    """Seconds until the next renewal attempt (pure): the interval after one that landed, the
    retry period (sooner) after one that did not."""
    return interval if landed else min(RETRY_PERIOD_SECONDS, interval)


class LeaseApi:
    """GET/POST/PUT of Lease JSON through a ``kubernetes.client.ApiClient`` (kubeconfig, auth).

    Plain JSON dicts, not the client's models, so MicroTime goes on the wire as written.
    """

    def __init__(self, api_client: Any, namespace: str, timeout: float = 10.0):
        self.api_client, self.namespace, self.timeout = api_client, namespace, timeout

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/{name}")
        except ApiStatusError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", "", body)

    def replace(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("PUT", f"/{name}", body)

    def _call(self, method: str, suffix: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One request, retried on throttling, 5xx and cut connections (a 409 is the caller's to resolve)."""
        from pipeline.kube import retry

        return retry.call(lambda: self._once(method, suffix, body), retry.LEASE, retry_on=retry.transient_not_conflict)

    def _once(self, method: str, suffix: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        path = LEASES.format(namespace=self.namespace) + suffix
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        request = self.api_client.param_serialize(method=method, resource_path=path, header_params=headers,
                                                  body=dict(body) if body is not None else None,
                                                  auth_settings=["BearerToken"])
        try:
            response = self.api_client.call_api(*request, _request_timeout=self.timeout)
            response.read()
        except ApiException as exc:  # transport-level errors raised by the client
            raise ApiStatusError(exc.status or 0, str(exc.reason)) from None
        except (OSError, Urllib3Error) as exc:   # a refused, cut or silent connection
            raise ApiStatusError(0, f"{type(exc).__name__}: {exc}") from None
        if not 200 <= response.status < 300:
            raise ApiStatusError(response.status, _message(response.data))
        return json.loads(response.data or b"{}")


def _message(data: bytes | None) -> str:
    try:
        return str(json.loads(data or b"{}").get("message", ""))
    except (ValueError, AttributeError):
        return (data or b"")[:200].decode(errors="replace")


# --------------------------------------------------------------------------- the lock

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class DeployLock:
    """``with DeployLock(api, app, env, info={...}) as lock:`` holds the lease for the block.

    ``lock.lost`` (a ``threading.Event``) is set if the lease stops being ours; the
    orchestrator checks :meth:`check` between stages and stops when it raises.
    """

    def __init__(self, api: LeaseApi, app: str, env: str, info: Mapping[str, Any] | None = None,
                 duration_seconds: int = DEFAULT_DURATION_SECONDS, identity: str | None = None,
                 clock: Clock = _utcnow):
        if duration_seconds < 3:
            raise ValueError(f"lease duration must be at least 3 seconds, got {duration_seconds}")
        self.api, self.app, self.env = api, app, env
        self.name = lease_name(app, env)
        self.identity = identity or make_identity()
        self.duration = int(duration_seconds)
        self.clock = clock
        self.info = dict(info or {})
        self.lost = threading.Event()
        self.lost_reason = ""
        self.previous: LeaseStatus | None = None   # the lease as found: a dead holder's record lives here
        self._lease: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    @classmethod
    def for_environment(cls, config: "EnvConfig", api_client: Any, info: Mapping[str, Any] | None = None
                        ) -> "DeployLock":
        """The deploy lock of ``config``'s app and environment, in its namespace (deploy and rollback)."""
        return cls(LeaseApi(api_client, config.kube.namespace), config.app, config.name, info=info,
                   duration_seconds=config.rollout.lock_seconds)

    # -- acquire / release
    def acquire(self) -> LeaseStatus:
        now = self.clock()
        info = {"who": self.identity.split("/")[0], "since": micro_time(now), **self.info}
        current = self.api.get(self.name)
        status = lease_status(current, now)
        if status.held_by_other(self.identity):
            raise LockHeld(status, self.name)
        self.previous = status
        body = claimed(current, self.identity, self.duration, now, info, self.api.namespace, self.name)
        try:
            self._lease = self.api.create(body) if current is None else self.api.replace(self.name, body)
        except ApiStatusError as exc:
            if exc.status == 409:
                winner = lease_status(self.api.get(self.name), self.clock())
                if winner.held_by_other(self.identity):
                    raise LockHeld(winner, self.name) from None
                raise LockLost(f"lease {self.name}: lost the race to take it ({exc})") from None
            raise
        self._thread = threading.Thread(target=self._renew_loop, name=f"renew {self.name}", daemon=True)
        self._thread.start()
        return lease_status(self._lease, now)

    def release(self, keep_record: bool = False, outcome: Mapping[str, Any] | None = None) -> None:
        """Give the lease up. ``keep_record`` leaves the holder annotation (an unfinished
        deploy's record) for the next holder to read from :attr:`previous`; ``outcome`` is
        left on the Lease for whoever asked this holder to stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.api.timeout + 5)
        with self._guard:
            lease, self._lease = self._lease, None
        if lease is None or self.lost.is_set():
            return
        for _ in range(3):
            try:
                self.api.replace(self.name, released(lease, self.clock(), keep_record, outcome))
                return
            except ApiStatusError as exc:
                if exc.status != 409:
                    if exc.status == 404:
                        return
                    raise
                lease = self.api.get(self.name)      # an abort request was written meanwhile: re-read
                if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                    return                           # no longer ours to release

    def record(self, **info: Any) -> None:
        """Merge ``info`` into the lease's holder annotation now (e.g. a deploy's in-flight state).

        A holder that dies leaves it behind; whoever takes the lease over reads it from
        :attr:`previous`. A clean :meth:`release` removes it. A renewal racing this write
        (409) is resolved by re-reading the lease, if it is still ours.
        """
        with self._guard:
            lease = self._lease
            if lease is None:
                raise LockLost(f"lease {self.name} is not held")
            self.info.update(info)
            for _ in range(3):
                try:
                    self._lease = self.api.replace(self.name, with_info(lease, info))
                    return
                except ApiStatusError as exc:
                    if exc.status != 409:
                        raise
                    lease = self.api.get(self.name)
                    if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                        raise LockLost(f"lease {self.name} was taken over") from None
            raise LockLost(f"lease {self.name}: could not record deploy state after 3 conflicts")

    def check(self) -> None:
        """Raise :class:`LockLost` if the lease is no longer held by this process."""
        if self.lost.is_set():
            raise LockLost(f"lease {self.name} lost: {self.lost_reason}")

    def __enter__(self) -> "DeployLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- renewal
    @property
    def renew_interval(self) -> float:
        return self.duration - renew_margin(self.duration)

    def renew(self) -> bool:
        """One renewal (the background thread's step; public for tests and callers). False when
        it did not land (the thread then tries again sooner)."""
        with self._guard:
            lease = self._lease
        if lease is None:
            return True
        try:
            fresh = self.api.replace(self.name, renewed(lease, self.clock()))
        except ApiStatusError as exc:
            if exc.status != 409:
                self._maybe_expired(lease, str(exc))
                return False
            current = self.api.get(self.name)
            if current is None or (current.get("spec") or {}).get("holderIdentity") != self.identity:
                holder = lease_status(current, self.clock()).holder or "nobody"
                self._lose(f"taken over by {holder}")
                return False
            fresh = self.api.replace(self.name, renewed(current, self.clock()))
        with self._guard:
            if self._lease is not None:
                self._lease = fresh
        return True

    def _maybe_expired(self, lease: Mapping[str, Any], error: str) -> None:
        status = lease_status(lease, self.clock())
        if not status.held:
            self._lose(f"could not renew before expiry ({error})")

    def _lose(self, reason: str) -> None:
        self.lost_reason = reason
        self.lost.set()
        self._stop.set()

    def _renew_loop(self) -> None:
        wait = self.renew_interval
        while not self._stop.wait(wait):
            landed = False
            try:
                landed = self.renew()
            except Exception as exc:  # noqa: BLE001 - a renewal error must not kill the thread silently
                with self._guard:
                    lease = self._lease
                if lease is not None:
                    self._maybe_expired(lease, str(exc))
            wait = next_renewal(landed, self.renew_interval)
