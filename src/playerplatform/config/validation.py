"""Config values checked against the JSON Schema of their key (Draft 2020-12). A failure is a
422 `validation_error` whose errors name the field and, inside the value, the JSON Pointer
of the part that failed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from playerplatform.kit.errors import ValidationFailed

MAX_ERRORS = 50


def compile_schemas(schemas: Mapping[str, Any]) -> dict[str, Draft202012Validator]:
    """A validator per key; a schema that is not a valid JSON Schema is a 422 naming it."""
    errors: list[dict[str, str]] = []
    validators: dict[str, Draft202012Validator] = {}
    for key, schema in schemas.items():
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            errors.append(
                {"field": f"schemas.{key}", "path": _pointer(exc.path), "message": exc.message}
            )
            continue
        validators[key] = Draft202012Validator(schema)
    if errors:
        raise _failed("A schema is not a valid JSON Schema.", errors)
    return validators


def check_values(
    validators: Mapping[str, Draft202012Validator],
    documents: Iterable[tuple[str, Mapping[str, Any]]],
) -> None:
    """Check every `(field prefix, values)` document against the validators of its keys."""
    errors: list[dict[str, str]] = []
    for prefix, values in documents:
        for key, value in values.items():
            validator = validators.get(key)
            if validator is None:
                continue
            for error in validator.iter_errors(value):
                where = "".join(f".{part}" for part in error.absolute_path)
                errors.append(
                    {
                        "field": f"{prefix}.{key}{where}",
                        "path": _pointer(error.absolute_path),
                        "message": error.message,
                    }
                )
    if errors:
        raise _failed("A value does not match its key's schema.", errors)


def _pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _failed(detail: str, errors: list[dict[str, str]]) -> ValidationFailed:
    return ValidationFailed(detail, extra={"errors": errors[:MAX_ERRORS]})
