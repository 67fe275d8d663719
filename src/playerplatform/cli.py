"""`playerplatform`: serve, migrate, staff accounts, key rotation, emulators."""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import click

from playerplatform.kit.settings import Settings
from playerplatform.references import module_exists

# The domains' command groups, by `module:attribute`. Each is imported only when it is used
# (importing them all would slow every command); a module that does not exist stops the
# command line at start-up.
COMMANDS: dict[str, str] = {
    "commerce": "playerplatform.commerce.cli:group",
    "emulate": "playerplatform.platforms.cli:emulate",
    "erase-user": "playerplatform.privacy.cli:erase_user",
    "export-user": "playerplatform.privacy.cli:export_user",
    "leaderboards": "playerplatform.leaderboards.cli:group",
    "parked": "playerplatform.jobs.parked_cli:group",
    "twitch": "playerplatform.drops.cli:group",
    "ugc": "playerplatform.ugc.cli:group",
    "worker": "playerplatform.jobs.cli:worker",
}


class CommandLine(click.Group):
    """The commands declared in this module plus the domains' (`commands`), loaded when
    used."""

    def __init__(self, *args: Any, commands_by_reference: Mapping[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        for name, reference in commands_by_reference.items():
            module = reference.partition(":")[0]
            if not module_exists(module):
                raise RuntimeError(f"command {name!r}: module {module} does not exist")
        self.by_reference = dict(commands_by_reference)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.by_reference})

    def invoke(self, ctx: click.Context) -> Any:
        """Run a command with the cycle collector off. Starting makes what lives as long as
        the process (modules, models, the runtime): the collector walking it again and again
        while it grows costs a sixth of a command's time and finds nothing. A command that
        serves (`serve`, `worker`, `emulate`) turns it back on once started (`settle_gc`);
        one that ends frees what it makes by reference counting."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            return super().invoke(ctx)
        finally:
            if enabled:
                gc.enable()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        reference = self.by_reference.get(cmd_name)
        if reference is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = reference.partition(":")
        command = getattr(importlib.import_module(module), attribute, None)
        if not isinstance(command, click.Command):
            raise RuntimeError(f"command {cmd_name!r}: {reference} is not a click command")
        return command


def _run(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(factory())


@click.group(cls=CommandLine, commands_by_reference=COMMANDS)
def main() -> None:
    """Player Platform: identity, commerce, UGC, leaderboards and safety for games."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="API processes")
@click.option("--no-migrate", is_flag=True, help="Do not apply pending migrations first.")
@click.option(
    "--password-hint",
    default="$PP_BOOTSTRAP_ADMIN_PASSWORD",
    hidden=True,
    help="How the printed sign-in command reads the bootstrap admin's password (`make run`).",
)
def serve(host: str, port: int, workers: int, no_migrate: bool, password_hint: str) -> None:
    """Migrate if needed, then serve the API and the console."""
    from playerplatform.serving import serve_api

    settings = _prepare_serving(host, port, workers, no_migrate, password_hint)
    # Imported once the metrics' multiprocess directory is announced (`_prepare_metrics_dir`).
    from playerplatform.kit.metrics import settle_gc

    # Before the workers are forked: what start-up made is frozen, and its pages stay shared.
    # Not collected first: the workers collect once started, this process makes little.
    settle_gc(tune=settings.gc_tuning, collect=False)
    serve_api(settings, host=host, port=port, workers=workers)


def _prepare_serving(
    host: str, port: int, workers: int, no_migrate: bool, password_hint: str
) -> Settings:
    """Everything `serve` does before the server starts; returns the settings it serves."""
    settings = Settings()
    if settings.shape == "embedded" and not settings.redis_url and workers > 1:
        raise click.UsageError(
            "The embedded shape keeps its hot store in one process: use --workers 1, or set "
            "PP_REDIS_URL (and a PostgreSQL PP_DATABASE_URL) to run several workers."
        )
    derived = "public_url" not in settings.model_fields_set
    if derived:
        # Links in mail and signed URLs must reach this server: without PP_PUBLIC_URL they
        # point at the address it serves on. The API processes read it from the environment.
        settings = settings.model_copy(update={"public_url": serving_url(host, port)})
        os.environ["PP_PUBLIC_URL"] = settings.public_url
    if not no_migrate:
        from playerplatform.kit import migrate

        click.echo(f"Migrating {_redact(settings.database_url)} ...")
        migrate.upgrade(settings.database_url)
    _prepare_metrics_dir(settings, workers)
    if settings.metrics_port:
        from playerplatform.kit.metrics import serve_metrics

        serve_metrics(settings.metrics_host, settings.metrics_port)
    base = serving_url(host, port)
    click.echo(
        f"\nPlayer Platform ({settings.shape} shape) on {base}\n"
        f"  API docs     {base}/docs\n"
        f"  OpenAPI      {base}/openapi.json\n"
        f"  health       {base}/healthz  (readiness: {base}/readyz)\n"
        f"  console      {base}/admin\n"
        f"  public URL   {settings.public_url}"
        + (" (from the serving address; set PP_PUBLIC_URL to override)" if derived else "")
    )
    if settings.metrics_port:
        click.echo(f"  Metrics    http://{settings.metrics_host}:{settings.metrics_port}/metrics")
    if settings.bootstrap_admin_email:
        click.echo(_bootstrap_banner(settings, base, password_hint))
    if settings.server == "granian":
        # Granian forks its workers from this process: imported here, the application and its
        # routers are theirs without importing them again (uvicorn's workers start afresh).
        import playerplatform.app  # noqa: F401
        from playerplatform.wiring import platform_wiring

        platform_wiring().mounts()
    return settings


def serving_url(host: str, port: int) -> str:
    """The address a client on this machine reaches `serve --host HOST --port PORT` at: a
    wildcard host (all interfaces) is reached on the loopback address."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _bootstrap_banner(settings: Settings, base: str, password_hint: str) -> str:
    """The bootstrap admin's sign-in, printed only when it works: the admin is created (when
    no admin exists) before the server starts, then the email and password are checked."""
    from playerplatform.auth.bootstrap import bootstrap_sign_in, ensure_bootstrap_admin
    from playerplatform.runtime import Runtime

    async def check() -> tuple[bool, str]:
        runtime = Runtime.build(settings)
        try:
            await ensure_bootstrap_admin(runtime)
            return await bootstrap_sign_in(runtime)
        finally:
            await runtime.close()

    works, detail = _run(check)
    if not works:
        return (
            f"\nNo bootstrap admin sign-in to show: {detail}.\n"
            "  Sign in with an existing admin, or make one:\n"
            "  playerplatform admin create --email you@example.com --role admin\n"
        )
    body = f'{{\\"email\\": \\"{detail}\\", \\"password\\": \\"{password_hint}\\"}}'
    return (
        f"\nBootstrap admin\n"
        f"  email        {detail}\n"
        f"  password     {password_hint}\n"
        f"  sign in      curl -s {base}/api/v1/auth/email/login "
        f"-H 'Content-Type: application/json' \\\n"
        f'                 -d "{body}"\n'
    )


def _prepare_metrics_dir(settings: Settings, workers: int) -> None:
    """Several workers share metrics through prometheus_client's multiprocess directory, and so
    does one Granian worker with the process serving `/metrics` on its own port (Granian runs
    the app in a process of its own even then)."""
    if workers > 1 or settings.server == "granian":
        # Announced before prometheus_client is imported here: Granian forks its workers
        # from this process, and the client picks file-backed values at import.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(Path(settings.metrics_multiproc_dir).resolve())
        from playerplatform.kit.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(settings.metrics_multiproc_dir)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command()
@click.argument("action", type=click.Choice(["upgrade", "downgrade", "current"]), default="upgrade")
@click.argument("revision", required=False)
def migrate(action: str, revision: str | None) -> None:
    """Apply (upgrade [REV], default head), revert (downgrade REV) or show migrations."""
    from playerplatform.kit import migrate as migrations

    url = Settings().database_url
    if action == "upgrade":
        migrations.upgrade(url, revision or "head")
        click.echo(f"Upgraded to {revision or 'head'}.")
    elif action == "downgrade":
        if not revision:
            raise click.UsageError("downgrade needs a revision (e.g. base, or -1)")
        migrations.downgrade(url, revision)
        click.echo(f"Downgraded to {revision}.")
    else:
        click.echo(asyncio.run(migrations.current_revision(url)) or "none")


@main.group()
def admin() -> None:
    """Staff accounts."""


@admin.command("create")
@click.option("--email", required=True)
@click.option("--password", default=None, help="Prompted for when absent and the account is new.")
@click.option(
    "--role", type=click.Choice(["admin", "moderator"]), default="admin", show_default=True
)
def admin_create(email: str, password: str | None, role: str) -> None:
    """Create a staff account (or promote the account that has this email)."""
    from playerplatform.auth.bootstrap import create_staff_account

    async def create() -> tuple[str, bool]:
        runtime = await _runtime()
        try:
            return await create_staff_account(runtime, email=email, password=password, role=role)
        finally:
            await runtime.close()

    if password is None and sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        canonical_id, created = _run(create)
    except Exception as exc:  # shown to the operator, not a stack trace
        raise click.ClickException(str(exc)) from None
    verb = "Created" if created else "Updated"
    click.echo(f"{verb} {role} {email.strip().lower()} ({canonical_id}).")


@admin.command("totp")
@click.option("--email", required=True)
def admin_totp(email: str) -> None:
    """Give a staff member a new TOTP second factor (replacing theirs; their sessions end)
    and print its otpauth:// URI, to scan into an authenticator app."""
    from playerplatform.auth.bootstrap import enrol_staff_totp

    async def enrol() -> str:
        runtime = await _runtime()
        try:
            return await enrol_staff_totp(runtime, email=email)
        finally:
            await runtime.close()

    try:
        uri = _run(enrol)
    except Exception as exc:  # shown to the operator, not a stack trace
        raise click.ClickException(str(exc)) from None
    click.echo(uri)


@main.group()
def keys() -> None:
    """Access-token signing keys."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Make a new signing key; old keys stay in the JWKS until their tokens expire."""
    from playerplatform.audit import service as audit

    async def rotate() -> tuple[str, list[str]]:
        runtime = await _runtime()
        try:
            async with runtime.db.unit_of_work() as uow:
                kid, retired = await runtime.keys.rotate(uow)
                await audit.record(
                    uow,
                    action="keys.rotate",
                    resource_type="signing_key",
                    resource_id=kid,
                    actor=None,
                    old={"active": retired},
                    new={"active": [kid]},
                )
            return kid, retired
        finally:
            await runtime.close()

    kid, retired = _run(rotate)
    click.echo(f"New signing key {kid}; retired {', '.join(retired) or 'none'}.")


async def _runtime() -> Any:
    from playerplatform.kit import migrate as migrations
    from playerplatform.runtime import Runtime

    settings = Settings()
    await migrations.upgrade_async(settings.database_url)
    runtime = Runtime.build(settings)
    await runtime.keys.load(create_if_missing=False)
    return runtime


@main.command()
def demo() -> None:
    """Add demo players, SKUs, a season and UGC beside existing data (through the API)."""
    from playerplatform.demo import DemoRefused, run_demo

    settings = Settings()
    from playerplatform.kit import migrate as migrations

    migrations.upgrade(settings.database_url)
    try:
        report = asyncio.run(run_demo(settings, click.echo))
    except DemoRefused as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(
        f"Demo ready: {report.players} players, SKUs {', '.join(report.skus)}, season "
        f"{report.season} ({report.scores} scores), {len(report.ugc_published)} UGC items "
        f"published, {len(report.ugc_waiting)} waiting for a scan.\n"
        f"Console: {settings.public_url}/admin  staff sign-in {report.admin_email} / "
        f"{report.admin_password}"
    )


if __name__ == "__main__":
    main()
