"""`module:attribute` references to the platform's own modules (command groups, routers),
which the composition root names instead of importing them, so that a process imports only
what it uses."""

from __future__ import annotations

from pathlib import Path

PACKAGE = __package__ or "playerplatform"
_ROOT = Path(__file__).parent


def module_exists(module: str) -> bool:
    """Whether the platform has `module`, found without importing its packages (which
    `importlib.util.find_spec` would do, at the cost of most of the platform's import time)."""
    package, _, rest = module.partition(".")
    if package != PACKAGE or not rest:
        return False
    path = _ROOT.joinpath(*rest.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def reference_exists(reference: str) -> bool:
    """Whether `module:attribute` names a module of the platform (the attribute is checked
    when it is imported)."""
    module, _, attribute = reference.partition(":")
    return bool(attribute) and module_exists(module)
