"""Structured logging: one line per event on stdout, JSON in production, readable in a terminal.

structlog renders our own events; the stdlib root logger (uvicorn, SQLAlchemy, Python warnings)
goes through the same processors, so every line has the same shape. Secrets are redacted by
key name at any depth before anything is rendered. Uvicorn's access log is silenced: the
gateway writes its own, with the route template and the caller.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import orjson
import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from playerplatform.kit.settings import Settings

REDACTED = "[redacted]"

# Normalised (lowercase, no `_`, `-`, space) fragments that mark a key as secret.
_SECRET_FRAGMENTS = (
    "password",
    "passwd",
    "token",
    "secret",
    "authorization",
    "ticket",
    "cookie",
    "apikey",
    "publisherkey",
    "privatekey",
)
_secret_keys: dict[object, bool] = {}
_SECRET_CACHE_LIMIT = 4096
# Most values are scalars: an exact type test is far cheaper than isinstance against ABCs.
_SCALARS = frozenset({str, int, float, bool, type(None), bytes})

# The processors list is shared with every bound logger (structlog keeps a reference), so it
# is updated in place on reconfiguration rather than replaced.
_processors: list[Processor] = []
_stdlib_handler: logging.Handler | None = None


def is_secret_key(key: object) -> bool:
    """True when a log key names a credential (`password`, `refresh_token`, `Authorization`...)."""
    known = _secret_keys.get(key)
    if known is not None:
        return known
    secret = False
    if isinstance(key, str):
        flat = key.lower().replace("_", "").replace("-", "").replace(" ", "")
        secret = any(fragment in flat for fragment in _SECRET_FRAGMENTS)
    if len(_secret_keys) < _SECRET_CACHE_LIMIT:
        _secret_keys[key] = secret
    return secret


def _redact_value(value: Any) -> Any:
    """The value with secret keys masked; the same object when there is nothing to mask
    (nested containers belong to the caller and are copied, never changed)."""
    if isinstance(value, Mapping):
        changed = False
        out: dict[Any, Any] = {}
        for key, item in value.items():
            new = REDACTED if is_secret_key(key) else _redact_value(item)
            changed = changed or new is not item
            out[key] = new
        return out if changed else value
    if isinstance(value, list | tuple):
        items = [_redact_value(item) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items if isinstance(value, list) else tuple(items)
        return value
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace values of secret-looking keys with "[redacted]"."""
    known = _secret_keys
    for key, value in event_dict.items():
        secret = known.get(key)
        if secret is None:
            secret = is_secret_key(key)
        if secret:
            event_dict[key] = REDACTED
        elif type(value) not in _SCALARS and isinstance(value, Mapping | list | tuple):
            event_dict[key] = _redact_value(value)
    return event_dict


class _NamedBytesLogger(structlog.BytesLogger):
    """A BytesLogger that remembers the name it was asked for (`add_logger_name` reads it)."""

    def __init__(self, name: str, file: Any) -> None:
        super().__init__(file)
        self.name = name


class _NamedWriteLogger(structlog.WriteLogger):
    def __init__(self, name: str, file: Any) -> None:
        super().__init__(file)
        self.name = name


class _LoggerFactory:
    def __init__(self, stream: TextIO, *, json: bool) -> None:
        # JSON goes out as bytes (orjson) when the stream has a binary layer.
        buffer = getattr(stream, "buffer", None) if json else None
        self.binary = buffer is not None
        self.file: Any = buffer if buffer is not None else stream

    def __call__(self, *args: Any) -> Any:
        name = str(args[0]) if args else "playerplatform"
        if self.binary:
            return _NamedBytesLogger(name, self.file)
        return _NamedWriteLogger(name, self.file)


def _add_logger_name(logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    if record is not None:
        event_dict["logger"] = record.name
    else:
        name = getattr(logger, "name", None)
        if name:
            event_dict["logger"] = name
    return event_dict


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # Uvicorn attaches an ANSI-coloured copy of each message as an `extra`.
    event_dict.pop("color_message", None)
    return event_dict


def _orjson_text(obj: Any, **kwargs: Any) -> str:
    return orjson.dumps(obj, **kwargs).decode()


def _level_number(name: str) -> int:
    level = logging.getLevelNamesMapping().get(name.upper())
    return level if level is not None else logging.INFO


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Point structlog and the stdlib root logger at stdout (or `stream`). Safe to call
    once per app: the latest call wins, nothing is added twice."""
    global _stdlib_handler
    stream = stream or sys.stdout
    level = _level_number(settings.log_level)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _add_logger_name,
        timestamper,
    ]
    factory = _LoggerFactory(stream, json=settings.log_json)
    if settings.log_json:
        tail: list[Processor] = [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(
                serializer=orjson.dumps if factory.binary else _orjson_text
            ),
        ]
        stdlib_renderer: Processor = structlog.processors.JSONRenderer(serializer=_orjson_text)
    else:
        console = structlog.dev.ConsoleRenderer(colors=stream.isatty())
        tail = [console]
        stdlib_renderer = console

    _processors[:] = [*shared, redact_secrets, *tail]
    structlog.configure(
        processors=_processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        context_class=dict,
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )

    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # `extra=` fields are added before redaction so they are redacted too.
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.ExtraAdder(),
                _drop_color_message,
                redact_secrets,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *(
                    [structlog.processors.format_exc_info]
                    if settings.log_json
                    else []  # the console renderer prints tracebacks itself
                ),
                stdlib_renderer,
            ],
        )
    )
    root = logging.getLogger()
    if _stdlib_handler is not None:
        root.removeHandler(_stdlib_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _stdlib_handler = handler

    # Uvicorn installs its own handlers; send its records through ours instead.
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True  # the gateway logs every request itself
    logging.getLogger("sqlalchemy").setLevel(max(level, logging.WARNING))
    # httpx logs every outgoing URL at INFO, query string included (Steam takes its
    # publisher key as `?key=`): keep it to warnings.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)
