"""Label and field selectors, parsed as the API server parses ``labelSelector``/``fieldSelector``.

Pure functions: ``parse_labels("app=web,tier in (a,b)")`` returns a predicate over a label
map; a malformed selector raises :class:`SelectorError` whose message is the one a real
API server puts in its 400 BadRequest Status.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

Labels = dict[str, str]

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SPECIAL = set(" \t\n,=!()<>")
_OPERATORS = ("==", "!=", "=", "!", "(", ")", ",", "<", ">")

NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
            "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
             "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
             "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


class SelectorError(ValueError):
    """A selector the API server would reject; ``str()`` is the server's message."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                      # = != in notin exists !exists gt lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Labels) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("gt", "lt"):
            if value is None:
                return False
            try:
                number = int(value)
            except (TypeError, ValueError):
                return False
            return number > int(self.values[0]) if self.op == "gt" else number < int(self.values[0])
        return False


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op:
            out.append(op)
            i += len(op)
            continue
        j = i
        while j < len(text) and text[j] not in _SPECIAL:
            j += 1
        out.append(text[i:j])
        i = j
    return out


def _is_identifier(token: str | None) -> bool:
    return token is not None and token not in _OPERATORS


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.pos += 1
        return token

    def requirements(self) -> list[Requirement]:
        found: list[Requirement] = []
        while self.peek() is not None:
            try:
                found.append(self.requirement())
            except SelectorError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from None
            token = self.take()
            if token is None:
                break
            if token != ",":
                raise SelectorError(f"found '{token}', expected: ',' or 'end of string'")
            if self.peek() is None:
                raise SelectorError("found '', expected: identifier after ','")
        return found

    def requirement(self) -> Requirement:
        token = self.take()
        if token == "!":
            key = self.take()
            if not _is_identifier(key):
                raise SelectorError(f"found '{key or ''}', expected: identifier")
            assert key is not None
            _check_key(key)
            return Requirement(key, "!exists")
        if not _is_identifier(token):
            raise SelectorError(f"found '{token or ''}', expected: !, identifier, or 'end of string'")
        assert token is not None
        _check_key(token)
        nxt = self.peek()
        if nxt is None or nxt == ",":
            return Requirement(token, "exists")
        op = self.take()
        if op in ("=", "=="):
            return Requirement(token, "=", (self.single_value(token),))
        if op == "!=":
            return Requirement(token, "!=", (self.single_value(token),))
        if op in ("<", ">"):
            value = self.single_value(token)
            if not re.fullmatch(r"-?\d+", value):
                raise SelectorError(f"for 'Gt', 'Lt' operators, the value must be an integer")
            return Requirement(token, "gt" if op == ">" else "lt", (value,))
        if op in ("in", "notin"):
            return Requirement(token, op, self.value_set(token))
        raise SelectorError(f"found '{op}', expected: in, notin, =, ==, !=, gt, lt")

    def single_value(self, key: str) -> str:
        nxt = self.peek()
        if nxt is None or nxt == ",":
            value = ""
        elif _is_identifier(nxt):
            value = self.take() or ""
        else:
            raise SelectorError(f"found '{nxt}', expected: identifier")
        _check_value(key, value)
        return value

    def value_set(self, key: str) -> tuple[str, ...]:
        token = self.take()
        if token != "(":
            raise SelectorError(f"found '{token or ''}', expected: '('")
        values: list[str] = []
        while True:
            token = self.take()
            if token == ")":
                if not values:
                    values.append("")
                break
            if token == ",":
                values.append("")
                continue
            if not _is_identifier(token):
                raise SelectorError(f"found '{token or ''}', expected: ',', ')' or identifier")
            assert token is not None
            _check_value(key, token)
            values.append(token)
            token = self.take()
            if token == ")":
                break
            if token != ",":
                raise SelectorError(f"found '{token or ''}', expected: ',' or ')'")
        return tuple(values)


def _check_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or not _DNS_SUBDOMAIN.match(prefix) or len(prefix) > 253):
        raise SelectorError(f'invalid label key "{key}": prefix part must be a lowercase RFC 1123 subdomain')
    if not name or len(name) > 63 or not _NAME.match(name):
        raise SelectorError(f'invalid label key "{key}": {NAME_MSG}')


def _check_value(key: str, value: str) -> None:
    if len(value) > 63 or not _VALUE.match(value):
        raise SelectorError(f'invalid label value: "{value}": at key: "{key}": {VALUE_MSG}')


def parse_labels(text: str | None) -> Callable[[Labels], bool]:
    """A predicate over label maps; raises :class:`SelectorError` as the API server would."""
    if not text:
        return lambda labels: True
    requirements = _Parser(text).requirements()
    return lambda labels: all(r.matches(labels) for r in requirements)


# --- field selectors -------------------------------------------------------------------------

FIELDS_ALL = ("metadata.name", "metadata.namespace")
FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "status.phase", "status.podIP", "status.nominatedNodeName"),
    "Secret": ("type",),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"),
    "Namespace": ("status.phase",),
    "ReplicaSet": ("status.replicas",),
}


def _field_value(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node)


def parse_fields(text: str | None, kind: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate over objects for ``fieldSelector`` (``=``, ``==``, ``!=``, comma = AND)."""
    if not text:
        return lambda obj: True
    allowed = FIELDS_ALL + FIELDS_BY_KIND.get(kind, ())
    terms: list[tuple[str, bool, str]] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*", part)
        if not match:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = match.groups()
        if field not in allowed:
            raise SelectorError(f'field label not supported: {field}')
        terms.append((field, op != "!=", value))
    return lambda obj: all((_field_value(obj, f) == v) == eq for f, eq, v in terms)
