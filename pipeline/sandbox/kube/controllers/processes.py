"""Real-process containers: an image run as a local process, with probes and restarts.

For a container whose image repository is in the catalog's process map the kubelet:
- resolves the env like a real kubelet (``value``, ``valueFrom.secretKeyRef`` /
  ``configMapKeyRef`` / ``fieldRef``, ``envFrom``); a missing Secret/ConfigMap/key leaves
  the container waiting in ``CreateContainerConfigError`` until it appears;
- allocates a free loopback port per ``containerPort`` (recorded in the pod annotation
  ``sandbox.pipeline/ports`` = ``{"<containerPort>": hostPort}`` for the pod proxy) and sets
  ``PORT`` (the first one), ``APP_VERSION`` (the image tag) and the sandbox "network"
  variables (KLAVIYO_BASE_URL, LAUNCHDARKLY_*_URI) unless the pod spec sets them;
- runs ``readinessProbe`` / ``livenessProbe`` (httpGet; initialDelaySeconds, periodSeconds —
  fractions allowed —, timeoutSeconds, failureThreshold). Until the first readiness success
  it probes every 0.1 s (a sandbox shortcut so rollouts are not paced by periodSeconds);
- restarts an exited (or liveness-failed) process with back-off 1 s, 2 s, ... 30 s,
  reporting ``CrashLoopBackOff`` and a rising ``restartCount``;
- stops it with SIGTERM, then SIGKILL after the pod's deletion grace period (at most 5 s when
  the sandbox itself stops), and reports it terminated with its exit code.
Output goes to ``<log dir>/<namespace>_<pod>_<container>.log``.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import time
from typing import TYPE_CHECKING, Any, Callable

import aiohttp

from pipeline.sandbox.kube.controllers.images import ProcessSpec, split_image
from pipeline.sandbox.kube.controllers.spec import Obj, format_time
from pipeline.sandbox.kube.controllers.podstatus import ContainerState
from pipeline.sandbox.kube.objects import ApiError
from pipeline.sandbox.kube.resources import CONFIGMAPS, PODS, SECRETS

if TYPE_CHECKING:
    from pipeline.sandbox.kube.controllers.kubelet import Kubelet

PORTS_ANNOTATION = "sandbox.pipeline/ports"
BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "no_proxy", "NO_PROXY")
BACKOFF_START, BACKOFF_MAX = 1.0, 30.0
FAST_PROBE = 0.1
MAX_GRACE = 5.0


class ConfigError(Exception):
    """The container's env cannot be built yet (CreateContainerConfigError)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def resolve_env(container: Obj, pod: Obj, lookup: Callable[[Any, str, str], Obj | None]) -> dict[str, str]:
    """The container's env from the pod spec; ``lookup(resource, namespace, name)`` reads the cluster."""
    namespace = pod["metadata"].get("namespace", "")
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, resource in (("secretRef", SECRETS), ("configMapRef", CONFIGMAPS)):
            ref = source.get(kind)
            if ref:
                data = _data(lookup(resource, namespace, ref.get("name", "")), resource)
                if data is None:
                    if ref.get("optional"):
                        continue
                    raise ConfigError(f'{_noun(resource)} "{ref.get("name", "")}" not found')
                env.update({prefix + k: v for k, v in data.items()})
    for item in container.get("env") or []:
        name = item.get("name", "")
        if "value" in item or "valueFrom" not in item:
            env[name] = str(item.get("value", ""))
            continue
        value = _value_from(item["valueFrom"], pod, namespace, lookup)
        if value is not None:
            env[name] = value
    return env


def _value_from(source: Obj, pod: Obj, namespace: str, lookup: Callable[[Any, str, str], Obj | None]) -> str | None:
    for kind, resource in (("secretKeyRef", SECRETS), ("configMapKeyRef", CONFIGMAPS)):
        ref = source.get(kind)
        if not ref:
            continue
        name, key = ref.get("name", ""), ref.get("key", "")
        data = _data(lookup(resource, namespace, name), resource)
        if data is None:
            if ref.get("optional"):
                return None
            raise ConfigError(f'{_noun(resource)} "{name}" not found')
        if key not in data:
            if ref.get("optional"):
                return None
            raise ConfigError(f"couldn't find key {key} in {resource.kind} {namespace}/{name}")
        return data[key]
    field_ref = source.get("fieldRef")
    if field_ref:
        path = field_ref.get("fieldPath", "")
        values = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": namespace,
                  "metadata.uid": pod["metadata"].get("uid", ""), "status.podIP": "127.0.0.1",
                  "status.hostIP": "127.0.0.1", "spec.nodeName": (pod.get("spec") or {}).get("nodeName", "")}
        return values.get(path, "")
    return None


def _noun(resource: Any) -> str:
    return "secret" if resource == SECRETS else "configmap"


def _data(obj: Obj | None, resource: Any) -> dict[str, str] | None:
    if obj is None:
        return None
    if resource == SECRETS:
        out = {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
        out.update(obj.get("stringData") or {})
        return out
    return dict(obj.get("data") or {})


def sandbox_network_env(urls: dict[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    if "klaviyo" in urls:
        env["KLAVIYO_BASE_URL"] = urls["klaviyo"]
    if "launchdarkly" in urls:
        for name in ("LAUNCHDARKLY_BASE_URI", "LAUNCHDARKLY_STREAM_URI", "LAUNCHDARKLY_EVENTS_URI"):
            env[name] = urls["launchdarkly"]
    return env


def build_env(spec_env: dict[str, str], process: ProcessSpec, image: str, port: int | None,
              urls: dict[str, str], base: dict[str, str]) -> dict[str, str]:
    """Precedence: host basics < sandbox network < process spec < pod spec; PORT is always the host port."""
    env = {k: v for k, v in base.items() if k in BASE_ENV_KEYS}
    env.update(sandbox_network_env(urls))
    env.update(process.env)
    env["APP_VERSION"] = split_image(image)[1]
    env.update(spec_env)
    if port is not None:
        env["PORT"] = str(port)
    return env


def probe_target(probe: Obj, ports: dict[int, int], named: dict[str, int]) -> str | None:
    get = probe.get("httpGet")
    if not get:
        return None
    port = get.get("port")
    if isinstance(port, str) and not port.isdigit():
        port = named.get(port)
    host_port = ports.get(int(port)) if port is not None else None
    if host_port is None:
        return None
    path = get.get("path") or "/"
    return f"http://127.0.0.1:{host_port}{path if path.startswith('/') else '/' + path}"


class ProcessContainer:
    def __init__(self, kubelet: "Kubelet", key: tuple[str, str], pod: Obj, container: Obj,
                 process: ProcessSpec, notify: Callable[[], None]) -> None:
        self.kubelet, self.key, self.pod, self.container, self.process = kubelet, key, pod, container, process
        self.notify = notify
        self.state = ContainerState(container.get("name", ""), container.get("image", ""))
        self.ports: dict[int, int] = {}
        self.named: dict[str, int] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = self.kubelet.loop.create_task(self._run())

    # --- lifecycle --------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = BACKOFF_START
        while not self._stopping:
            env = await self._wait_for_env()
            if env is None:
                return
            self._allocate_ports()
            started = time.time()
            try:
                await self._spawn(env)
            except OSError as exc:
                self._set_waiting("RunContainerError", str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            code = await self._supervise()
            if self._stopping:
                return
            self._record_exit(code, started)
            if time.time() - started > 60:
                backoff = BACKOFF_START
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _wait_for_env(self) -> dict[str, str] | None:
        while not self._stopping:
            changed = self.kubelet.config_changed
            try:
                spec_env = resolve_env(self.container, self.pod, self.kubelet.cluster.store.get)
            except ConfigError as exc:
                self._set_waiting("CreateContainerConfigError", str(exc))
                await changed.wait()
                continue
            port = self._first_port()
            return build_env(spec_env, self.process, self.state.image, port, self.kubelet.ctx.urls, dict(os.environ))
        return None

    def _first_port(self) -> int | None:
        self._allocate_ports()
        return next(iter(self.ports.values()), None)

    def _allocate_ports(self) -> None:
        if self.ports:
            return
        declared = self.container.get("ports") or []
        for entry in declared:
            number = int(entry.get("containerPort", 0))
            self.ports[number] = free_port()
            if entry.get("name"):
                self.named[entry["name"]] = number
        if not declared:
            self.ports[8080] = free_port()
        self._publish_ports()

    def _publish_ports(self) -> None:
        cluster = self.kubelet.cluster
        pod = cluster.store.get(PODS, *self.key)
        if pod is None or pod["metadata"]["uid"] != self.pod["metadata"]["uid"]:
            return
        notes = dict(pod["metadata"].get("annotations") or {})
        current = json.loads(notes.get(PORTS_ANNOTATION, "{}") or "{}")
        current.update({str(k): v for k, v in self.ports.items()})
        notes[PORTS_ANNOTATION] = json.dumps(current, sort_keys=True)
        pod["metadata"]["annotations"] = notes
        pod["metadata"].pop("resourceVersion", None)
        try:
            cluster.update(PODS, pod)
        except ApiError:
            pass

    async def _spawn(self, env: dict[str, str]) -> None:
        path = self.kubelet.log_path(self.key[0], self.key[1], self.state.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        command = list(self.process.command)
        command += [str(a) for a in (self.container.get("args") or [])]
        with open(path, "ab") as log_file:
            self.proc = await asyncio.create_subprocess_exec(
                *command, env=env, cwd=self.process.cwd, stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        state = self.state
        state.state, state.reason, state.message = "running", "", ""
        state.started_at, state.ready = time.time(), False
        state.container_id = f"sandbox://pid/{self.proc.pid}"
        if not self.container.get("readinessProbe"):
            state.ready = True
        self.notify()

    async def _supervise(self) -> int:
        assert self.proc is not None
        probes = [self.kubelet.loop.create_task(self._readiness())]
        if self.container.get("livenessProbe"):
            probes.append(self.kubelet.loop.create_task(self._liveness()))
        try:
            return await self.proc.wait()
        finally:
            for task in probes:
                task.cancel()

    def _record_exit(self, code: int, started: float) -> None:
        state = self.state
        state.restart_count += 1
        code = 128 - code if code < 0 else code    # killed by signal N -> 128+N, as a runtime reports it
        state.last_terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                 "startedAt": format_time(started), "finishedAt": format_time(time.time()),
                                 "containerID": state.container_id}
        self._set_waiting("CrashLoopBackOff",
                          f"back-off restarting failed container={state.name} pod={self.key[1]}")

    def _set_waiting(self, reason: str, message: str) -> None:
        state = self.state
        if (state.state, state.reason, state.message) == ("waiting", reason, message):
            return
        state.state, state.reason, state.message, state.ready = "waiting", reason, message, False
        self.notify()

    # --- probes -----------------------------------------------------------------------
    async def _readiness(self) -> None:
        probe = self.container.get("readinessProbe")
        if not probe:
            return
        url = probe_target(probe, self.ports, self.named)
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        period = float(probe.get("periodSeconds") or 10)
        failures_allowed = int(probe.get("failureThreshold") or 3)
        failures, ever_ready = 0, False
        async with aiohttp.ClientSession() as session:
            while True:
                ok = url is None or await _http_ok(session, url, float(probe.get("timeoutSeconds") or 1))
                if ok:
                    failures, ever_ready = 0, True
                    if not self.state.ready:
                        self.state.ready = True
                        self.notify()
                else:
                    failures += 1
                    if self.state.ready and failures >= failures_allowed:
                        self.state.ready = False
                        self.notify()
                await asyncio.sleep(period if ever_ready else FAST_PROBE)

    async def _liveness(self) -> None:
        probe = self.container["livenessProbe"]
        url = probe_target(probe, self.ports, self.named)
        if url is None:
            return
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        period = float(probe.get("periodSeconds") or 10)
        threshold = int(probe.get("failureThreshold") or 3)
        failures = 0
        async with aiohttp.ClientSession() as session:
            while True:
                if await _http_ok(session, url, float(probe.get("timeoutSeconds") or 1)):
                    failures = 0
                else:
                    failures += 1
                    if failures >= threshold:
                        await self._kill(grace=1.0)
                        return
                await asyncio.sleep(period)

    # --- stopping ---------------------------------------------------------------------
    async def stop(self, grace: float | None = None) -> None:
        """SIGTERM, SIGKILL after ``grace`` (the pod's deletion grace period; None: the sandbox stops,
        at most MAX_GRACE), then report the container terminated with its exit code."""
        self._stopping = True
        if grace is None:
            grace = min(float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 30), MAX_GRACE)
        code = await self._kill(grace)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self.state.state != "terminated":
            self.state.terminate(code if code is not None else 137, time.time())

    async def _kill(self, grace: float) -> int | None:
        """The exit code as a runtime reports it (128+N when killed by signal N); None: never ran."""
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            _signal(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except asyncio.TimeoutError:
                _signal(proc.pid, signal.SIGKILL)
                await proc.wait()
        code = proc.returncode or 0
        return 128 - code if code < 0 else code


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


async def _http_ok(session: aiohttp.ClientSession, url: str, timeout: float) -> bool:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            return 200 <= response.status < 400
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return False
