"""Structured logging: redaction of secrets, the JSON line shape, stdlib routing."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import structlog
from structlog.stdlib import ProcessorFormatter

from playerplatform.kit.logging import REDACTED, configure_logging, redact_secrets
from playerplatform.kit.settings import Settings


def redact(event: dict[str, Any]) -> dict[str, Any]:
    return dict(redact_secrets(None, "info", dict(event)))


def test_secret_keys_are_redacted_at_any_depth() -> None:
    items: list[dict[str, Any]] = [{"id_token": "t", "n": 1}]
    nested: dict[str, Any] = {"client_secret": "s3", "kept": "yes", "items": items}
    event = {
        "event": "login",
        "password": "hunter2",
        "Authorization": "Bearer abc",
        "refresh_token": "r",
        "steam_ticket": "14000000",
        "publisher-key": "pk",
        "api_key": "ak",
        "set-cookie": "c",
        "player": "p-1",
        "status": 200,
        "request": {"headers": {"cookie": "c"}, "body": nested, "tuple": ({"secret": "x"},)},
    }
    out = redact(event)
    for key in (
        "password",
        "Authorization",
        "refresh_token",
        "steam_ticket",
        "publisher-key",
        "api_key",
        "set-cookie",
    ):
        assert out[key] == REDACTED, key
    assert out["event"] == "login"
    assert out["player"] == "p-1"
    assert out["status"] == 200
    assert out["request"]["headers"]["cookie"] == REDACTED
    assert out["request"]["body"]["client_secret"] == REDACTED
    assert out["request"]["body"]["kept"] == "yes"
    assert out["request"]["body"]["items"] == [{"id_token": REDACTED, "n": 1}]
    assert out["request"]["tuple"] == ({"secret": REDACTED},)
    # The caller's own objects are left as they were.
    assert nested["client_secret"] == "s3"
    assert items[0]["id_token"] == "t"


def test_values_without_secrets_are_passed_through_untouched() -> None:
    payload = {"season": "s1", "scores": [1, 2, 3]}
    out = redact({"event": "scored", "payload": payload})
    assert out["payload"] is payload


@pytest.fixture
def log_stream(settings: Settings) -> Iterator[io.TextIOWrapper]:
    """Logging pointed at an in-memory stream for one test, then back to stdout."""
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    configure_logging(settings.model_copy(update={"log_json": True}), stream=stream)
    try:
        yield stream
    finally:
        configure_logging(settings)


def lines(stream: io.TextIOWrapper) -> list[dict[str, Any]]:
    stream.flush()
    raw = stream.buffer.getvalue()  # type: ignore[attr-defined]
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


def test_json_lines_carry_time_level_logger_context_and_no_secrets(
    log_stream: io.TextIOWrapper,
) -> None:
    with structlog.contextvars.bound_contextvars(request_id="req-42"):
        structlog.get_logger("playerplatform.test").info(
            "player_signed_in", password="hunter2", nested={"access_token": "abc"}
        )
    (line,) = lines(log_stream)
    assert line["event"] == "player_signed_in"
    assert line["level"] == "info"
    assert line["logger"] == "playerplatform.test"
    assert line["request_id"] == "req-42"
    assert line["timestamp"].endswith("Z")
    assert line["password"] == REDACTED
    assert line["nested"] == {"access_token": REDACTED}


def test_stdlib_records_share_the_format_and_uvicorn_access_is_silent(
    log_stream: io.TextIOWrapper,
) -> None:
    logging.getLogger("uvicorn.error").warning("worker %s stopping", 3)
    logging.getLogger("uvicorn.access").warning('127.0.0.1 - "GET /?token=x HTTP/1.1" 200')
    logging.getLogger("sqlalchemy.pool").warning("pool overflow")
    out = lines(log_stream)
    assert [(line["logger"], line["event"], line["level"]) for line in out] == [
        ("uvicorn.error", "worker 3 stopping", "warning"),
        ("sqlalchemy.pool", "pool overflow", "warning"),
    ]
    assert all("timestamp" in line for line in out)


def test_level_setting_filters_both_structlog_and_stdlib(settings: Settings) -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    configure_logging(settings.model_copy(update={"log_level": "warning"}), stream=stream)
    try:
        structlog.get_logger("playerplatform.test").info("too_quiet")
        logging.getLogger("playerplatform.stdlib").info("too quiet too")
        structlog.get_logger("playerplatform.test").warning("loud_enough")
    finally:
        configure_logging(settings)
    assert [line["event"] for line in lines(stream)] == ["loud_enough"]


def test_console_renderer_when_json_is_off(settings: Settings) -> None:
    stream = io.StringIO()
    configure_logging(settings.model_copy(update={"log_json": False}), stream=stream)
    try:
        structlog.get_logger("playerplatform.test").info("console_line", token="abc123")
    finally:
        configure_logging(settings)
    text = stream.getvalue()
    assert "console_line" in text
    assert "abc123" not in text
    assert REDACTED in text


def test_configuring_again_replaces_rather_than_stacks_handlers(settings: Settings) -> None:
    configure_logging(settings)
    configure_logging(settings)
    ours = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler.formatter, ProcessorFormatter)
    ]
    assert len(ours) == 1


def test_stdlib_extras_are_redacted_and_uvicorn_colours_dropped(
    log_stream: io.TextIOWrapper,
) -> None:
    logging.getLogger("uvicorn.error").warning(
        "Started server process [%d]",
        7,
        extra={"color_message": "Started \x1b[36m%d\x1b[0m", "client_secret": "s3cret"},
    )
    (line,) = lines(log_stream)
    assert line["event"] == "Started server process [7]"
    assert line["client_secret"] == REDACTED
    assert "color_message" not in line
