"""`playerplatform demo`: add demo players, SKUs, a season and UGC to an install.

Everything goes through the public API of an in-process app (the same validation, audit rows
and jobs as a real game would cause), so the demo doubles as a tour of the API. Each run's
SKUs and season carry a tag of their own (`demo-<tag>-gems`, `demo-<tag>`), so the demo adds
its data beside whatever the install already has, and running it again adds another set. The
staff account it creates is printed with its password once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from playerplatform.kit.settings import Settings

API = "/api/v1"
DEMO_NAMES = (
    "Aria", "Bram", "Cleo", "Dax", "Edda", "Finn", "Gwen", "Hugo", "Ines", "Jory",
    "Kira", "Lars", "Mira", "Nils", "Orla", "Pim", "Quinn", "Rhea", "Soren", "Tova",
)  # fmt: skip
# SKU ids are the run's tag followed by these; `{tag}` in contents names the run's own SKUs.
DEMO_SKUS = (
    {"sku_id": "gems", "type": "consumable", "name": "Gems", "quantity": 100,
     "description": "The game's soft currency."},
    {"sku_id": "golden-sword", "type": "durable", "name": "Golden Sword",
     "description": "Shiny, and a little heavier than it looks."},
    {"sku_id": "starter-pack", "type": "bundle", "name": "Starter pack",
     "description": "The sword and 500 gems.",
     "contents": [{"sku_id": "{tag}golden-sword", "quantity": 1},
                  {"sku_id": "{tag}gems", "quantity": 5}]},
)  # fmt: skip
DEMO_MAPS = (
    ("Harbour at dusk", "A small harbour with two capture points.", ["ctf", "small"]),
    ("Frozen keep", "Siege map: the walls fall in three stages.", ["siege", "large"]),
    ("Goblin market", "Tight alleys, many ambush spots.", ["deathmatch", "small"]),
)
REVIEW_WAIT_SECONDS = 30.0


class DemoRefused(Exception):
    """A step of the demo failed (the API refused it, or something it needs is missing)."""


@dataclass
class DemoReport:
    admin_email: str = ""
    admin_password: str = ""
    players: int = 0
    skus: list[str] = field(default_factory=list)
    season: str = ""
    scores: int = 0
    ugc_published: list[str] = field(default_factory=list)
    ugc_waiting: list[str] = field(default_factory=list)


async def run_demo(settings: Settings, echo: Callable[[str], None]) -> DemoReport:
    """Create the demo data through the API of an app started on `settings`."""
    from playerplatform.app import create_app
    from playerplatform.auth.bootstrap import create_staff_account

    app = create_app(settings)
    report = DemoReport()
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
            tag = f"demo-{secrets.token_hex(2)}-"
            report.admin_email = f"demo-admin-{secrets.token_hex(3)}@example.com"
            report.admin_password = secrets.token_urlsafe(12)
            await create_staff_account(
                runtime, email=report.admin_email, password=report.admin_password, role="admin"
            )
            admin = await _call(
                client, "POST", "/auth/email/login",
                json={"email": report.admin_email, "password": report.admin_password},
            )  # fmt: skip
            staff = {"Authorization": f"Bearer {admin['access_token']}"}
            echo(f"staff account {report.admin_email}")

            for template in DEMO_SKUS:
                sku = _tagged(template, tag)
                await _call(client, "POST", "/admin/skus", json=sku, headers=staff)
                report.skus.append(str(sku["sku_id"]))
            gems = f"{tag}gems"
            echo(f"catalog: {', '.join(report.skus)}")

            tokens = []
            for index, name in enumerate(DEMO_NAMES):
                login = await _call(
                    client, "POST", "/auth/device/login",
                    json={"device_id": f"demo-device-{secrets.token_hex(8)}"},
                )  # fmt: skip
                me = {"Authorization": f"Bearer {login['access_token']}"}
                await _call(client, "PATCH", "/users/me", json={"display_name": name}, headers=me)
                await _call(
                    client, "POST", f"/admin/users/{login['user']['canonical_id']}/grants",
                    json={"sku_id": gems, "quantity": 1 + index % 3, "reason": "demo welcome gift"},
                    headers={**staff, "Idempotency-Key": f"{tag}gift-{index}"},
                )  # fmt: skip
                tokens.append(me)
            report.players = len(tokens)
            echo(f"players: {report.players} guests, each with a welcome gift of gems")

            report.season = tag.rstrip("-")
            now = dt.datetime.now(dt.UTC)
            await _call(
                client, "POST", "/admin/seasons",
                json={
                    "season_id": report.season, "name": "Demo season", "type": "global",
                    "sort": "desc", "operator": "best", "reset_rule": "archive",
                    "start_date": now.isoformat(),
                    "end_date": (now + dt.timedelta(days=30)).isoformat(),
                },
                headers=staff,
            )  # fmt: skip
            scores = random.Random(7)
            for me in tokens:
                await _call(
                    client, "POST", f"/leaderboards/{report.season}/scores",
                    json={"score": scores.randint(100, 10_000)}, headers=me,
                )  # fmt: skip
                report.scores += 1
            echo(f"season {report.season}: {report.scores} scores")

            for (name, description, tags), me in zip(DEMO_MAPS, tokens, strict=False):
                ugc_id = await _upload_text(client, me, name, description, tags)
                if await _approve_when_reviewable(client, staff, ugc_id):
                    report.ugc_published.append(ugc_id)
                else:
                    report.ugc_waiting.append(ugc_id)
                echo(
                    f"ugc {name!r}: {'published' if ugc_id in report.ugc_published else 'waiting for its scan'}"
                )
    return report


def _tagged(template: dict[str, Any], tag: str) -> dict[str, Any]:
    """A demo SKU with the run's tag in its id and in the ids of its contents."""
    sku = {**template, "sku_id": f"{tag}{template['sku_id']}"}
    if "contents" in template:
        sku["contents"] = [
            {**line, "sku_id": line["sku_id"].replace("{tag}", tag)}
            for line in template["contents"]
        ]
    return sku


async def _call(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    response = await client.request(method, API + path, **kwargs)
    if response.status_code >= 400:
        raise DemoRefused(f"{method} {path}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


async def _upload_text(
    client: httpx.AsyncClient, me: dict[str, str], name: str, description: str, tags: list[str]
) -> str:
    content = f"# {name}\n\n{description}\n".encode()
    created = await _call(
        client, "POST", "/ugc",
        json={
            "type": "text", "name": name, "description": description, "tags": tags,
            "file": {
                "filename": "map.md", "size": len(content), "content_type": "text/markdown",
                "sha256": hashlib.sha256(content).hexdigest(),
            },
        },
        headers=me,
    )  # fmt: skip
    upload = created["upload"]
    async with httpx.AsyncClient(transport=_upload_transport(client, upload["url"])) as uploader:
        put = await uploader.put(upload["url"], content=content, headers=upload["headers"])
    if put.status_code >= 400:
        raise DemoRefused(f"upload of {name!r}: {put.status_code} {put.text[:300]}")
    ugc_id = str(created["ugc"]["ugc_id"])
    await _call(client, "POST", f"/ugc/{ugc_id}/complete", headers=me)
    return ugc_id


def _upload_transport(client: httpx.AsyncClient, url: str) -> httpx.AsyncBaseTransport | None:
    """Local signed URLs point at this very app; S3 URLs at the store itself."""
    if url.startswith(str(client.base_url).rstrip("/")):
        return client._transport  # the in-process app
    return None


async def _approve_when_reviewable(
    client: httpx.AsyncClient, staff: dict[str, str], ugc_id: str
) -> bool:
    """Approve the item once its scan put it in review; False when it is still scanning."""
    deadline = asyncio.get_running_loop().time() + REVIEW_WAIT_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        item = await _call(client, "GET", f"/ugc/{ugc_id}", headers=staff)
        if item["status"] == "pending_review":
            await _call(
                client, "POST", f"/moderation/ugc/{ugc_id}/decision",
                json={"action": "approve", "notes": "demo content"}, headers=staff,
            )  # fmt: skip
            return True
        if item["status"] in ("published", "removed"):
            return item["status"] == "published"
        await asyncio.sleep(0.2)
    return False
