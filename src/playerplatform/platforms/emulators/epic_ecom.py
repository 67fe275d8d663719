"""Epic ecom for the Epic emulator: list and redeem an account's entitlements, and the
clawback feed (the paths docs/platforms.md marks unconfirmed, as our client uses them).

Emulator-only routes (under `/emulator/ecom/`) give an account an entitlement, as a purchase
in the Epic Games Store would, and claw one back, as a refund would.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from playerplatform.platforms.emulators.epic import EpicEmulator, app_token_holder, epic_error


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class EcomState:
    # entitlement id -> entitlement (Epic's field names)
    entitlements: dict[str, dict[str, Any]] = field(default_factory=dict)
    clawbacks: list[dict[str, Any]] = field(default_factory=list)


def ecom(request: Request) -> EcomState:
    state: EcomState = request.app.state.ecom
    return state


router = APIRouter(prefix="/epic/ecom/v3")


@router.get("/identities/{identity_id}/entitlements")
async def list_entitlements(
    identity_id: str,
    request: Request,
    epic: EpicEmulator = Depends(app_token_holder),
    state: EcomState = Depends(ecom),
) -> Response:
    sandbox = request.query_params.get("sandboxId")
    if sandbox != epic.sandbox_id:
        return epic_error(400, "errors.com.epicgames.ecom.invalid_sandbox", "Unknown sandbox")
    include_redeemed = request.query_params.get("includeRedeemed") == "true"
    name = request.query_params.get("entitlementName")
    rows = [
        e
        for e in state.entitlements.values()
        if e["identityId"] == identity_id
        and e["active"]
        and (include_redeemed or not e["redeemed"])
        and (name is None or e["entitlementName"] == name)
    ]
    return JSONResponse(rows)


class RedeemBody(BaseModel):
    entitlementIds: list[str]  # Epic's field names
    sandboxId: str


@router.put("/identities/{identity_id}/entitlements/redeem")
async def redeem(
    identity_id: str,
    body: RedeemBody,
    epic: EpicEmulator = Depends(app_token_holder),
    state: EcomState = Depends(ecom),
) -> Response:
    if body.sandboxId != epic.sandbox_id:
        return epic_error(400, "errors.com.epicgames.ecom.invalid_sandbox", "Unknown sandbox")
    for entitlement_id in body.entitlementIds:
        row = state.entitlements.get(entitlement_id)
        if row is None or row["identityId"] != identity_id or not row["consumable"]:
            return epic_error(
                404, "errors.com.epicgames.ecom.entitlement_not_found", "Entitlement not found"
            )
    for entitlement_id in body.entitlementIds:
        row = state.entitlements[entitlement_id]
        row.update(redeemed=True, status="CONSUMED", useCount=row["useCount"] + 1, updated=_now())
    return Response(status_code=204)


@router.get("/namespace/{namespace}/entitlements/clawbacks")
async def clawbacks(
    namespace: str,
    request: Request,
    epic: EpicEmulator = Depends(app_token_holder),
    state: EcomState = Depends(ecom),
) -> Response:
    if namespace != epic.sandbox_id:
        return epic_error(404, "errors.com.epicgames.ecom.namespace_not_found", "Unknown namespace")
    since = request.query_params.get("clawbackDate", "")
    try:
        count = max(1, min(int(request.query_params.get("count", "100")), 1000))
    except ValueError:
        return epic_error(400, "errors.com.epicgames.common.bad_request", "Bad count")
    rows = sorted(
        (c for c in state.clawbacks if c["clawbackDate"] >= since), key=lambda c: c["clawbackDate"]
    )
    return JSONResponse(rows[:count])


class GiveEntitlement(BaseModel):
    identity_id: str
    catalog_item_id: str
    consumable: bool = False
    entitlement_name: str | None = None


emulator_router = APIRouter(prefix="/emulator/ecom")


@emulator_router.post("/entitlements")
async def give_entitlement(
    body: GiveEntitlement, request: Request, state: EcomState = Depends(ecom)
) -> dict[str, Any]:
    """The account bought `catalog_item_id` in the store."""
    epic: EpicEmulator = request.app.state.epic
    now = _now()
    entitlement_id = secrets.token_hex(16)
    row: dict[str, Any] = {
        "id": entitlement_id,
        "entitlementName": body.entitlement_name or body.catalog_item_id,
        "namespace": epic.sandbox_id,
        "catalogItemId": body.catalog_item_id,
        "accountId": body.identity_id,
        "identityId": body.identity_id,
        "entitlementType": "EXECUTABLE" if not body.consumable else "CONSUMABLE",
        "grantDate": now,
        "consumable": body.consumable,
        "status": "ACTIVE",
        "active": True,
        "redeemed": False,
        "useCount": 0,
        "created": now,
        "updated": now,
    }
    state.entitlements[entitlement_id] = row
    return row


@emulator_router.post("/entitlements/{entitlement_id}/clawback")
async def claw_back(entitlement_id: str, state: EcomState = Depends(ecom)) -> Response:
    """A refund or chargeback: the entitlement leaves the account and enters the feed."""
    row = state.entitlements.get(entitlement_id)
    if row is None or not row["active"]:
        return JSONResponse({"error": "unknown entitlement"}, status_code=404)
    row.update(active=False, status="REVOKED", updated=_now())
    state.clawbacks.append(
        {
            "entitlementId": entitlement_id,
            "identityId": row["identityId"],
            "catalogItemId": row["catalogItemId"],
            "clawbackDate": _now(),
        }
    )
    return JSONResponse({"ok": True})
