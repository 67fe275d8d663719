"""The edge rule: what the API accepts, said once for every route.

Every string the API accepts (body fields at any depth and their keys, path and query
parameters, header values) is **text**: no NUL character (PostgreSQL cannot store it) and no
lone surrogate (it is not Unicode and cannot be encoded back as UTF-8). Every free-form JSON
value (metadata, progression data, context) is a **JSON document** in the interoperable
profile (RFC 7493): text keys and strings, finite numbers, integers within ±(2^53 - 1), at
most `JSON_MAX_DEPTH` levels deep, and at most a given number of bytes. Request bodies are
parsed by `kit.edge_route.parse_json_body`, which refuses what the rule refuses before any model sees it, and
request models derive from `EdgeModel`: strict types (`"100"` is not a number, `true` is not a
score), unknown fields refused, and the text rule applied to every field.

`kit.edge_route.EdgeRoute` applies the rule to every request of every route built on it (the
path, the query, the headers and the JSON body), so a new route cannot forget it: a refusal is
a 422 `validation_error` naming the offending field, never a 500.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

MAX_BODY_DEPTH = 64  # a request body, counted from its top level
JSON_MAX_DEPTH = 32  # a free-form JSON field, counted from its own value
JSON_MAX_BYTES = 65536  # a free-form JSON field as compact JSON, unless its type says less
SAFE_INTEGER = 2**53 - 1  # integers beyond this lose precision in most JSON readers
MAX_FIELD_CHARS = 200  # of a field's path in an error


# Text.


def text_problem(value: str) -> str | None:
    """Why `value` is not text the API accepts, or None when it is."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain lone surrogates (it is not valid Unicode)"
    return None


def clean_line(value: str) -> str:
    """Visible text on one line (a name, a title, a reason), trimmed: not blank, no control
    characters. Use with the field's length: `Annotated[str, Field(max_length=N),
    AfterValidator(clean_line)]`."""
    line = value.strip()
    if not line:
        raise ValueError("must not be blank")
    if any(unicodedata.category(ch) == "Cc" for ch in line):
        raise ValueError("must be one line without control characters")
    return line


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any, int]]:
    """Every node of a parsed JSON value, with its dotted path and its depth (the value itself
    is at depth 1), parents before children; dict keys are yielded as nodes of their own."""
    stack: list[tuple[str, Any, int]] = [(path, value, 1)]
    while stack:
        where, node, level = stack.pop()
        yield where, node, level
        if isinstance(node, dict):
            for key, child in node.items():
                at = f"{where}.{key}" if where else str(key)
                yield at, key, level
                stack.append((at, child, level + 1))
        elif isinstance(node, list | tuple):
            stack.extend(
                (f"{where}.{i}" if where else str(i), child, level + 1)
                for i, child in enumerate(node)
            )


def _inner(path: str, message: str) -> str:
    return f"{path}: {message}" if path else message


def text_rule_problem(value: Any) -> str | None:
    """The first string inside `value` (a str, or lists and dicts of them, keys included) that
    breaks the text rule, described with its path; None when there is none. Models inside are
    skipped: they checked their own fields."""
    if isinstance(value, str):
        return text_problem(value)
    if not isinstance(value, dict | list | tuple):
        return None
    for path, node, _level in walk(value):
        if isinstance(node, str):
            problem = text_problem(node)
            if problem is not None:
                return _inner(path, problem)
    return None


# Free-form JSON documents.


def json_problem(value: Any, *, max_depth: int = JSON_MAX_DEPTH) -> str | None:
    """Why `value` is not a JSON document the API stores (see the module docstring), with the
    path of the offending part; None when it is one."""
    for path, node, level in walk(value):
        if level > max_depth:
            return _inner(path, f"nests deeper than {max_depth} levels")
        if isinstance(node, str):
            problem = text_problem(node)
        elif isinstance(node, bool) or node is None:
            problem = None
        elif isinstance(node, int):
            problem = f"integers are limited to ±{SAFE_INTEGER}; send larger ones as strings"
            problem = problem if abs(node) > SAFE_INTEGER else None
        elif isinstance(node, float):
            problem = None if math.isfinite(node) else "NaN and Infinity are not JSON"
        elif isinstance(node, dict | list | tuple):
            problem = None
        else:
            problem = f"{type(node).__name__} is not a JSON value"
        if problem is not None:
            return _inner(path, problem)
    return None


def json_size(value: Any) -> int:
    """Bytes of `value` as compact JSON (after `json_problem` found nothing)."""
    return len(orjson.dumps(value))


@dataclass(frozen=True, slots=True)
class JsonDocument:
    """`Annotated` marker of a free-form JSON field: its value must be a JSON document
    (`json_problem`) of at most `max_bytes` bytes as compact JSON (None: a service checks
    the size against a setting)."""

    max_bytes: int | None = JSON_MAX_BYTES

    def check(self, value: Any) -> Any:
        problem = json_problem(value)
        if problem is not None:
            raise ValueError(problem)
        if self.max_bytes is not None and json_size(value) > self.max_bytes:
            raise ValueError(f"must be at most {self.max_bytes} bytes as compact JSON")
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        size = f" and {self.max_bytes} bytes as compact JSON" if self.max_bytes else ""
        out.setdefault(
            "description",
            f"Free-form JSON: at most {JSON_MAX_DEPTH} levels deep{size}, integers within "
            "±(2^53 - 1), no NUL characters.",
        )
        return out


JsonObject = Annotated[dict[str, Any], JsonDocument()]


def json_number(value: float) -> int | float:
    """How a number is written in every response: a whole number within ±2^53 as a JSON
    integer (`1155`, never `1155.0`), anything else as it is."""
    if value.__class__ is float and value.is_integer() and -_WHOLE <= value <= _WHOLE:
        return int(value)
    return value


_WHOLE = float(2**53)  # the largest whole number every JSON reader holds exactly


class NotNull:
    """`Annotated` marker of a field that may be left out but not sent as null (a patch field
    that cannot be cleared): `name: Annotated[str | None, NotNull()] = None`. Null is refused,
    and the schema does not offer it."""

    @staticmethod
    def _refuse_null(value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self._refuse_null, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        variants = [v for v in out.get("anyOf", []) if v.get("type") != "null"]
        if len(variants) == 1:
            rest = {k: v for k, v in out.items() if k != "anyOf"}
            return {**variants[0], **rest}
        return out


# Timestamps.

_AWARE: TypeAdapter[dt.datetime] = TypeAdapter(AwareDatetime)
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)", re.ASCII
)


def parse_timestamp(value: Any) -> dt.datetime:
    """An RFC 3339 date-time string with its offset (or an aware datetime, from Python
    callers) as an aware UTC datetime; ValueError for anything else."""
    if isinstance(value, str):
        if not _RFC3339.fullmatch(value):
            raise ValueError("must be an RFC 3339 date-time such as 2030-01-31T12:00:00Z")
        try:
            parsed = _AWARE.validate_strings(value, strict=True)
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].lower()) from None
    elif isinstance(value, dt.datetime) and value.tzinfo is not None:
        parsed = value
    else:
        raise ValueError("must be an RFC 3339 date-time string with a time zone")
    try:
        return parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise ValueError("is out of range") from None


# An aware UTC datetime, from a JSON string only (strict models refuse numbers for it).
Timestamp = Annotated[AwareDatetime, BeforeValidator(parse_timestamp)]


# Request models.


class EdgeModel(BaseModel):
    """Base of every request model: strict types, unknown fields refused, and the text rule
    on every field (strings inside lists and free-form values included). Nested models must
    be `EdgeModel`s too (checked when the class is built). A model whose `extra` is "allow"
    (free-form mappings) has its extra fields checked as a JSON document."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, field in cls.model_fields.items():
            for model in models_in(field.annotation):
                if not issubclass(model, EdgeModel):
                    raise TypeError(
                        f"{cls.__name__}.{name}: request models nest only EdgeModels, "
                        f"not {model.__name__}"
                    )

    @field_validator("*", mode="after")
    @classmethod
    def _text_rule(cls, value: Any) -> Any:
        problem = text_rule_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _extra_rule(self) -> EdgeModel:
        extra = self.__pydantic_extra__
        if extra:
            problem = json_problem(extra)
            if problem is not None:
                raise ValueError(problem)
        return self


def models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            yield from models_in(arg)
