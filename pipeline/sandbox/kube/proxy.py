"""Pod proxy: ``/api/v1/namespaces/{ns}/pods/{name}[:{port}]/proxy/{path}``.

The simulated kubelet runs some pods as real local processes and records where in the
pod annotation ``sandbox.pipeline/ports``: a JSON object mapping containerPort (string)
to a port on 127.0.0.1. The proxy forwards the request there; a pod with no process on
that port answers 503 ServiceUnavailable, as a real API server does when the pod's
port refuses connections.
"""
from __future__ import annotations

import json

import aiohttp
from aiohttp import web

from pipeline.sandbox.kube import resources as R
from pipeline.sandbox.kube.objects import ApiError, Cluster
from pipeline.sandbox.kube.store import Obj

PORTS_ANNOTATION = "sandbox.pipeline/ports"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length", "authorization"}


def container_port(pod: Obj, wanted: str | None) -> int:
    """The container port a ``name[:port]`` segment means (a number, or a named port)."""
    ports = [p for c in pod.get("spec", {}).get("containers") or [] for p in c.get("ports") or []]
    if wanted is None or wanted == "":
        return ports[0]["containerPort"] if len(ports) == 1 else 80
    if wanted.isdigit():
        return int(wanted)
    for port in ports:
        if port.get("name") == wanted:
            return int(port["containerPort"])
    raise ApiError(503, "ServiceUnavailable", f'no such port "{wanted}" on pod "{pod["metadata"]["name"]}"', {})


def host_port(pod: Obj, port: int) -> int | None:
    raw = pod.get("metadata", {}).get("annotations", {}).get(PORTS_ANNOTATION)
    try:
        mapping = json.loads(raw) if raw else {}
        value = mapping.get(str(port)) if isinstance(mapping, dict) else None
        return int(value) if value is not None else None
    except (ValueError, TypeError):
        return None


def unavailable(pod: Obj, port: int) -> ApiError:
    ip = pod.get("status", {}).get("podIP") or "127.0.0.1"
    return ApiError(503, "ServiceUnavailable",
                    f"error trying to reach service: dial tcp {ip}:{port}: connect: connection refused", {})


async def forward(request: web.Request, cluster: Cluster, session: aiohttp.ClientSession,
                  namespace: str, name_port: str) -> web.Response:
    name, _, wanted = name_port.partition(":")
    pod = cluster.get(R.PODS, namespace, name)
    port = container_port(pod, wanted or None)
    target = host_port(pod, port)
    if target is None:
        raise unavailable(pod, port)
    marker = "/proxy"
    raw_path = request.rel_url.raw_path
    tail = raw_path[raw_path.index(marker) + len(marker):] if marker in raw_path else ""
    url = f"http://127.0.0.1:{target}{tail or '/'}"
    if request.rel_url.raw_query_string:
        url += "?" + request.rel_url.raw_query_string
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    try:
        async with session.request(request.method, url, headers=headers, data=await request.read(),
                                   allow_redirects=False, timeout=aiohttp.ClientTimeout(total=30)) as upstream:
            body = await upstream.read()
            out_headers = {k: v for k, v in upstream.headers.items()
                           if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding"}
            return web.Response(body=body, status=upstream.status, headers=out_headers)
    except (aiohttp.ClientError, TimeoutError, OSError):
        raise unavailable(pod, port) from None
