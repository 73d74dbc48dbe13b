"""Just enough Kubernetes protobuf to read what ``kubectl create <generator>`` sends.

Typed kubectl commands (``create namespace|configmap|secret``) POST
``application/vnd.kubernetes.protobuf``: the magic ``k8s\\0`` then a ``runtime.Unknown``
wrapping the object's protobuf. This decodes those kinds into JSON objects; anything else
is left to the caller to refuse (415), since a faithful decoder needs every type's schema.
"""
from __future__ import annotations

import base64
from typing import Any, Callable, Iterator

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
Obj = dict[str, Any]


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs; length-delimited values are bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            yield number, data[pos:pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


def _map_entry(raw: bytes, value_as_bytes: bool = False) -> tuple[str, str]:
    key, value = "", b""
    for number, v in fields(raw):
        if number == 1 and isinstance(v, bytes):
            key = v.decode()
        elif number == 2 and isinstance(v, bytes):
            value = v
    return key, (base64.b64encode(value).decode() if value_as_bytes else value.decode())


def object_meta(raw: bytes) -> Obj:
    meta: Obj = {}
    names = {1: "name", 2: "generateName", 3: "namespace"}
    for number, value in fields(raw):
        if number in names and isinstance(value, bytes):
            meta[names[number]] = value.decode()
        elif number in (11, 12) and isinstance(value, bytes):
            key, text = _map_entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = text
        elif number == 14 and isinstance(value, bytes):
            meta.setdefault("finalizers", []).append(value.decode())
    return meta


def _config_map(raw: bytes) -> Obj:
    obj: Obj = {}
    for number, value in fields(raw):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = object_meta(value)
        elif number in (2, 3) and isinstance(value, bytes):
            key, text = _map_entry(value, value_as_bytes=number == 3)
            obj.setdefault("data" if number == 2 else "binaryData", {})[key] = text
        elif number == 4:
            obj["immutable"] = bool(value)
    return obj


def _secret(raw: bytes) -> Obj:
    obj: Obj = {}
    for number, value in fields(raw):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = object_meta(value)
        elif number in (2, 4) and isinstance(value, bytes):
            key, text = _map_entry(value, value_as_bytes=number == 2)
            obj.setdefault("data" if number == 2 else "stringData", {})[key] = text
        elif number == 3 and isinstance(value, bytes):
            obj["type"] = value.decode()
        elif number == 5:
            obj["immutable"] = bool(value)
    return obj


def _namespace(raw: bytes) -> Obj:
    obj: Obj = {}
    for number, value in fields(raw):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = object_meta(value)
    return obj


DECODERS: dict[str, Callable[[bytes], Obj]] = {"ConfigMap": _config_map, "Secret": _secret, "Namespace": _namespace}


def decode(body: bytes) -> Obj:
    """A JSON object from a protobuf-encoded request body; :class:`ProtobufError` if unsupported."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing k8s protobuf magic prefix")
    api_version = kind = ""
    raw = b""
    for number, value in fields(body[len(MAGIC):]):
        if number == 1 and isinstance(value, bytes):
            for n, v in fields(value):
                if n == 1 and isinstance(v, bytes):
                    api_version = v.decode()
                elif n == 2 and isinstance(v, bytes):
                    kind = v.decode()
        elif number == 2 and isinstance(value, bytes):
            raw = value
    decoder = DECODERS.get(kind)
    if decoder is None:
        raise ProtobufError(f"protobuf bodies are only understood for {', '.join(sorted(DECODERS))}, not {kind!r}")
    obj = decoder(raw)
    obj["apiVersion"], obj["kind"] = api_version, kind
    return obj
