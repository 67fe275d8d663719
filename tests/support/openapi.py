"""Reading the served OpenAPI document: the API's routes, their parameters and body fields, as
the bad-input sweep and the contract test drive them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Field:
    """A parameter (`where` = path, query, header) or a top-level body field (`where` =
    body), its schema with `$ref`s resolved and `null` alternatives taken out."""

    name: str
    where: str
    schema: dict[str, Any]
    required: bool
    nullable: bool = False


@dataclass
class Operation:
    method: str
    path: str
    fields: list[Field] = field(default_factory=list)
    has_json_body: bool = False

    def of(self, where: str) -> list[Field]:
        return [f for f in self.fields if f.where == where]

    def url(self, values: dict[str, str] | None = None) -> str:
        """The path with every parameter filled (`values` first, else a harmless id)."""
        values = values or {}
        return re.sub(r"\{([^}]+)\}", lambda m: values.get(m.group(1), "nosuchid"), self.path)


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """`schema` with its `$ref` followed and an `anyOf` of one type and null unwrapped;
    the flag says null was allowed."""
    nullable = False
    while True:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = {
                **spec["components"]["schemas"][name],
                **{k: v for k, v in schema.items() if k != "$ref"},
            }
            continue
        variants = schema.get("anyOf") or schema.get("oneOf")
        if variants:
            kept = [v for v in variants if v.get("type") != "null"]
            nullable = nullable or len(kept) < len(variants)
            if len(kept) == 1:
                rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
                schema = {**rest, **kept[0]}
                continue
        return schema, nullable


def operations(spec: dict[str, Any], prefix: str = "/api/") -> list[Operation]:
    out = []
    for path, item in sorted(spec["paths"].items()):
        if not path.startswith(prefix):
            continue
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            operation = Operation(method.upper(), path)
            for param in op.get("parameters", []):
                schema, nullable = resolve(spec, param.get("schema", {}))
                operation.fields.append(
                    Field(
                        param["name"], param["in"], schema, param.get("required", False), nullable
                    )
                )
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                operation.has_json_body = True
                body, _ = resolve(spec, content["application/json"].get("schema", {}))
                required = set(body.get("required", []))
                for name, prop in body.get("properties", {}).items():
                    schema, nullable = resolve(spec, prop)
                    operation.fields.append(Field(name, "body", schema, name in required, nullable))
            out.append(operation)
    return out


def problem_fields(response: Any) -> list[str]:
    """The fields a 4xx problem+json names (`errors[].field`)."""
    if response.status_code < 400 or "json" not in response.headers.get("content-type", ""):
        return []
    return [str(e.get("field")) for e in response.json().get("errors", [])]


def names_field(response: Any, name: str) -> bool:
    """Whether the response refuses `name` (or a part of it, `name.x`; headers in any case)
    with a 422."""
    wanted = {name, name.lower(), f"header.{name.lower()}"}
    return response.status_code == 422 and any(
        f in wanted or f.lower() in wanted or f.startswith(f"{name}.")
        for f in problem_fields(response)
    )
