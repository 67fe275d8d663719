"""The OpenAPI document is the contract, and the server keeps exactly it: every constraint
`/openapi.json` states for a route's parameters and top-level body fields (required or not,
type, nullability, enum, length, range, pattern) is probed at its boundary. A value the
document allows is not refused for that field; a value it forbids is refused with a 422
naming the field (a missing `If-Match` with 428).

Semantic rules beyond what JSON Schema can say (an e-mail address that exists as an address,
a cron expression) are the field's own business: a refusal of a documented-valid value counts
as drift when it is about the value's type, presence or length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from playerplatform.runtime import Runtime
from tests.support.openapi import Field, Operation, names_field, operations, problem_fields
from tests.support.players import auth, device_login
from tests.support.staff import staff_login

ABSENT: Any = object()
# Plausible values tried, in order, against a field's pattern (before plain repetition).
SAMPLES = ["GB", "en", "USD", "daily", "10/minute", "text/plain", "a", "ab", "abc", "p0", "0"]
# Words a refusal uses when it is about size rather than meaning.
LENGTHY = re.compile(
    r"\d+ characters|too long|too short|at most \d|at least \d|too (many|few)", re.I
)


@dataclass(frozen=True)
class Probe:
    field: Field
    value: Any  # ABSENT: leave the field out
    allowed: bool
    why: str


def _email(length: int) -> str | None:
    """A syntactically valid address of exactly `length` characters (None if none is)."""
    if length < 6:
        return None
    local = "a" * min(64, length - 6)
    rest = length - len(local) - 1  # the domain
    labels = []
    while rest > 4:
        label = min(63, rest - 4 - (1 if labels or rest - 4 > 63 else 0))
        label = max(1, label)
        labels.append("b" * label)
        rest -= label + 1
    domain = ".".join(labels) + ".co" + "m" * (rest - 2) if rest >= 2 else None
    if domain is None:
        return None
    address = f"{local}@{domain}"
    return address if len(address) == length else None


def _text(schema: dict[str, Any], length: int | None) -> str | None:
    """A string the schema allows (of `length` characters when given), or None."""
    fmt, pattern = schema.get("format"), schema.get("pattern")
    if fmt == "email":
        return _email(length if length is not None else 20)
    if fmt == "date-time":
        return "2031-01-01T00:00:00Z" if length is None else None
    if fmt == "uri":
        base = "https://example.com/"
        n = 30 if length is None else length
        return base + "a" * (n - len(base)) if n >= len(base) + 1 else None
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    sizes = [length] if length is not None else sorted({max(low, 1), max(low, 8)})
    candidates = [s for s in SAMPLES if len(s) in sizes or (length is None and len(s) >= low)]
    for size in sizes:
        candidates += [(unit * size)[:size] for unit in ("a", "A", "0", "a0", "ab")]
    for candidate in candidates:
        if length is None and high is not None and len(candidate) > high:
            continue
        if pattern is None or re.search(pattern, candidate):
            return candidate
    return None


def _number(value: Any, kind: str) -> Any:
    return int(value) if kind == "integer" and value is not None else value


def _probes(field: Field) -> Iterator[Probe]:
    schema = field.schema
    kind = schema.get("type")
    in_body = field.where == "body"
    in_path = field.where == "path"  # always present, never empty: the router needs them

    if in_path:
        pass
    elif field.required:
        yield Probe(field, ABSENT, False, "required, left out")
    else:
        yield Probe(field, ABSENT, True, "optional, left out")
    if in_body:
        yield Probe(field, None, field.nullable, "null")

    if "const" in schema:
        schema = {**schema, "enum": [schema["const"]]}
    if "enum" in schema:
        for member in schema["enum"]:
            yield Probe(field, member, True, "enum member")
        yield Probe(field, "zz-not-a-member", False, "not an enum member")
        return
    if kind == "string":
        minimum, maximum = schema.get("minLength"), schema.get("maxLength")
        plain = _text(schema, None)
        if plain is not None and (maximum is None or len(plain) <= maximum):
            yield Probe(field, plain, True, "a plausible value")
        if maximum is not None:
            at = _text(schema, maximum)
            if at is not None:
                yield Probe(field, at, True, f"maxLength {maximum}")
            over = _text({**schema, "pattern": None}, maximum + 1) or "a" * (maximum + 1)
            yield Probe(field, over, False, f"beyond maxLength {maximum}")
        elif "pattern" not in schema and "format" not in schema:
            yield Probe(field, "a" * 200, True, "no maxLength: 200 characters")
        if minimum:
            at = _text(schema, minimum)
            if at is not None:
                yield Probe(field, at, True, f"minLength {minimum}")
            if not (in_path and minimum == 1):
                yield Probe(field, "a" * (minimum - 1), False, f"below minLength {minimum}")
        if "pattern" in schema:
            bads = ("~", "a b") if field.where == "header" else ("~", "a b", "\u00e9\u00e9")
            for bad in bads:
                if not re.search(schema["pattern"], bad):
                    yield Probe(field, bad, False, "against the pattern")
                    break
        if in_body:
            yield Probe(field, 7, False, "a number for a string")
            yield Probe(field, True, False, "a boolean for a string")
    elif kind in ("integer", "number"):
        low, high, low_x, high_x = (
            _number(schema.get(k), kind)
            for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
        )
        if low is not None:
            yield Probe(field, low, True, f"minimum {low}")
            yield Probe(field, low - 1, False, f"below minimum {low}")
        if high is not None:
            yield Probe(field, high, True, f"maximum {high}")
            yield Probe(field, high + 1, False, f"above maximum {high}")
        if low_x is not None:
            yield Probe(field, low_x, False, f"exclusiveMinimum {low_x}")
        if high_x is not None:
            yield Probe(field, high_x, False, f"exclusiveMaximum {high_x}")
        if in_body:
            yield Probe(field, "7", False, "a string for a number")
            yield Probe(field, True, False, "a boolean for a number")
            if kind == "integer":
                yield Probe(field, 7.5, False, "a fraction for an integer")
        else:
            yield Probe(field, "seven", False, "not a number")
    elif kind == "boolean":
        yield Probe(field, True, True, "true")
        yield Probe(field, False, True, "false")
        if in_body:
            yield Probe(field, "true", False, "a string for a boolean")
            yield Probe(field, 1, False, "a number for a boolean")
        else:
            yield Probe(field, "maybe", False, "not a boolean")
    elif kind == "array" and in_body:
        yield Probe(field, "x", False, "a string for an array")
        if schema.get("minItems", 0) == 0:
            yield Probe(field, [], True, "an empty array")
        elif schema.get("minItems") == 1:
            yield Probe(field, [], False, "an empty array below minItems 1")
    elif kind == "object" and in_body:
        yield Probe(field, "x", False, "a string for an object")
        yield Probe(field, [], False, "an array for an object")
        if not schema.get("required") and not schema.get("properties"):
            yield Probe(field, {}, True, "an empty object")


def _plausible(schema: dict[str, Any]) -> Any:
    """A value of the schema's type that its documented constraints allow."""
    if "const" in schema or "enum" in schema:
        return schema.get("const", (schema.get("enum") or [None])[0])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return _number(schema.get("minimum", 1), kind)
    return {"boolean": True, "object": {}, "array": []}.get(kind, _text(schema, None) or "x")


def _request(op: Operation, probe: Probe) -> dict[str, Any]:
    """The probed field set (or left out), every other required field given a plausible
    value, so that what the server says is about the probed field."""
    field, value = probe.field, probe.value
    path_values: dict[str, Any] = {}
    params: dict[str, Any] = {}
    headers: dict[str, Any] = {}
    body: dict[str, Any] = {}
    for other in op.fields:
        if other is field or not other.required:
            continue
        sample = _plausible(other.schema)
        where = {"path": path_values, "query": params, "header": headers, "body": body}
        where[other.where][other.name] = sample if other.where == "body" else str(sample)
    if value is not ABSENT:
        if field.where == "path":
            path_values[field.name] = str(value)
        elif field.where == "query":
            params[field.name] = str(value).lower() if isinstance(value, bool) else str(value)
        elif field.where == "header":
            headers[field.name] = str(value)
        else:
            body[field.name] = value
    request: dict[str, Any] = {"url": op.url(path_values), "params": params, "headers": headers}
    if op.has_json_body:
        request["json"] = body
    return request


def _refused(response: httpx.Response, field: Field) -> bool:
    if field.where == "header" and field.name.lower() == "if-match":
        return response.status_code == 428 or names_field(response, field.name)
    return names_field(response, field.name)


def _refusal_is_drift(response: httpx.Response, probe: Probe) -> bool:
    """A documented-valid value refused: drift when the refusal is about presence, type or
    length (see the module docstring)."""
    if not _refused(response, probe.field):
        return False
    if probe.value is ABSENT or probe.value is None or response.status_code != 422:
        return True
    messages = [
        f"{e.get('type', '')} {e.get('message', '')}"
        for e in response.json().get("errors", [])
        if str(e.get("field", "")).startswith(probe.field.name)
    ]
    return any(
        LENGTHY.search(m) or "type" in m.split()[0] or "missing" in m or "literal" in m
        for m in messages
    )


@pytest.fixture
async def tokens(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    return auth(await staff_login(client, runtime, "admin"))


async def test_every_documented_constraint_is_the_one_enforced(
    client: httpx.AsyncClient, app: FastAPI, tokens: dict[str, str]
) -> None:
    drift: list[str] = []
    probed = 0
    for op in operations(app.openapi()):
        for field in op.fields:
            for probe in _probes(field):
                request = _request(op, probe)
                headers = tokens
                if op.path.startswith("/api/v1/auth/logout"):
                    headers = auth(await device_login(client))  # it would end the staff session
                response = await client.request(
                    op.method, **{**request, "headers": {**headers, **request["headers"]}}
                )
                probed += 1
                assert response.status_code < 500, (op.path, probe.why, response.text[:300])
                if probe.allowed and _refusal_is_drift(response, probe):
                    drift.append(
                        f"{op.method} {op.path} {field.where}.{field.name}: {probe.why} "
                        f"({probe.value!r:.40}) refused: {problem_fields(response)} "
                        f"{response.text[:200]}"
                    )
                elif not probe.allowed and not _refused(response, field):
                    drift.append(
                        f"{op.method} {op.path} {field.where}.{field.name}: {probe.why} "
                        f"({probe.value!r:.40}) accepted with {response.status_code}"
                    )
    assert probed > 800
    assert not drift, "\n".join(drift)
