"""ISteamMicroTxn and ISteamMicroTxnSandbox for the Steam emulator: GetUserInfo, InitTxn,
FinalizeTxn, QueryTxn, RefundTxn and GetReport, speaking Valve's envelope
(`{"response": {"result": "OK"|"Failure", "params"|"error": ...}}`).

Emulator-only routes (under `/emulator/microtxn/`) stand in for what happens outside the
backend: the player approving or denying the overlay, support refunding an order, a bank
charging it back, and faults (FinalizeTxn capturing the money but the answer never arriving).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from playerplatform.platforms.emulators import read_form
from playerplatform.platforms.emulators.steam import SteamEmulator, publisher_key

INTERFACES = ("ISteamMicroTxn", "ISteamMicroTxnSandbox")
REVERSALS = ("Refunded", "Chargedback", "RefundedSuspectedFraud", "RefundedFriendlyFraud")
ERRORS = {
    2: "Operation failed",
    3: "Invalid parameter",
    5: "User has not approved transaction",
    6: "Transaction has already been committed",
    8: "Currency does not match user's Steam Account currency",
    10: "Transaction has been denied by user",
    100: "Insufficient funds",
    101: "Time limit for finalization has been exceeded",
    104: "Transaction denied by fraud detection",
    107: "User has a pending transaction",
}


@dataclass
class Txn:
    orderid: str
    transid: str
    steamid: str
    currency: str
    items: list[dict[str, Any]]
    status: str = "Init"
    denial: int | None = None  # error FinalizeTxn answers once the overlay was refused
    time: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def touch(self) -> None:
        self.time = dt.datetime.now(dt.UTC)

    def params(self) -> dict[str, Any]:
        return {
            "orderid": self.orderid,
            "transid": self.transid,
            "steamid": self.steamid,
            "status": self.status,
            "currency": self.currency,
            "time": _rfc3339(self.time),
            "timecreated": _rfc3339(self.created),
            "country": "US",
            "usstate": "WA",
            "items": [dict(item) for item in self.items],
        }


@dataclass
class Wallet:
    """What GetUserInfo says of a player: Steam charges only in the wallet's currency."""

    currency: str = "USD"
    country: str = "US"
    state: str = "WA"
    status: str = "Active"


@dataclass
class MicroTxnState:
    txns: dict[str, Txn] = field(default_factory=dict)
    # FinalizeTxn for these order ids captures the money, then answers 500 (lost answer).
    lose_finalize_answer: set[str] = field(default_factory=set)
    finalize_calls: int = 0
    # steamid -> error the next InitTxn for that player answers (e.g. 107: pending elsewhere)
    refuse_init: dict[str, int] = field(default_factory=dict)
    # steamid -> the player's Steam wallet; players not listed have a US wallet in USD
    wallets: dict[str, Wallet] = field(default_factory=dict)

    def wallet(self, steamid: str) -> Wallet:
        return self.wallets.get(steamid) or Wallet()


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def microtxn(request: Request) -> MicroTxnState:
    state: MicroTxnState = request.app.state.microtxn
    return state


def ok(params: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"response": {"result": "OK", "params": params}})


def failure(code: int) -> JSONResponse:
    return JSONResponse(
        {
            "response": {
                "result": "Failure",
                "error": {"errorcode": code, "errordesc": ERRORS.get(code, "Failed")},
            }
        }
    )


async def _params(request: Request) -> dict[str, str]:
    if request.method == "GET":
        return dict(request.query_params)
    return await read_form(request)


router = APIRouter()


def _route(method: str, name: str, version: int) -> Any:
    def decorate(fn: Any) -> Any:
        for interface in INTERFACES:
            router.add_api_route(f"/{interface}/{name}/v{version}/", fn, methods=[method])
        return fn

    return decorate


@_route("GET", "GetUserInfo", 2)
async def get_user_info(
    request: Request,
    _: SteamEmulator = Depends(publisher_key),
    state: MicroTxnState = Depends(microtxn),
) -> Response:
    params = await _params(request)
    steamid = params.get("steamid", "")
    if not steamid.isdigit():
        return failure(3)
    wallet = state.wallet(steamid)
    return ok(
        {
            "state": wallet.state,
            "country": wallet.country,
            "currency": wallet.currency,
            "status": wallet.status,
        }
    )


@_route("POST", "InitTxn", 3)
async def init_txn(
    request: Request,
    steam: SteamEmulator = Depends(publisher_key),
    state: MicroTxnState = Depends(microtxn),
) -> Response:
    form = await _params(request)
    orderid, steamid = form.get("orderid", ""), form.get("steamid", "")
    if not orderid.isdigit() or not steamid.isdigit() or form.get("appid") != str(steam.app_id):
        return failure(3)
    if orderid in state.txns:
        return failure(3)
    if steamid in state.refuse_init:
        return failure(state.refuse_init.pop(steamid))
    try:
        count = int(form.get("itemcount", "0"))
        items: list[dict[str, Any]] = [
            {
                "itemid": form[f"itemid[{i}]"],
                "qty": int(form[f"qty[{i}]"]),
                "amount": int(form[f"amount[{i}]"]),
                "vat": 0,
                "itemstatus": "Init",
            }
            for i in range(count)
        ]
    except (KeyError, ValueError):
        return failure(3)
    if not items or any(i["qty"] < 1 or i["amount"] < 0 for i in items):
        return failure(3)
    # Steam charges the wallet in its own currency only: any other currency is error 8.
    currency = form.get("currency", "")
    if currency != state.wallet(steamid).currency:
        return failure(8)
    txn = Txn(
        orderid=orderid,
        transid=str(secrets.randbelow(10**18)),
        steamid=steamid,
        currency=currency,
        items=items,
    )
    state.txns[orderid] = txn
    return ok({"orderid": orderid, "transid": txn.transid})


@_route("POST", "FinalizeTxn", 2)
async def finalize_txn(
    request: Request,
    _: SteamEmulator = Depends(publisher_key),
    state: MicroTxnState = Depends(microtxn),
) -> Response:
    state.finalize_calls += 1
    txn = state.txns.get((await _params(request)).get("orderid", ""))
    if txn is None:
        return failure(3)
    if txn.status == "Init":
        return failure(5)
    if txn.status == "Failed":
        return failure(txn.denial or 2)
    if txn.status != "Approved":
        return failure(6)
    txn.status = "Succeeded"
    for item in txn.items:
        item["itemstatus"] = "Succeeded"
    txn.touch()
    if txn.orderid in state.lose_finalize_answer:
        state.lose_finalize_answer.discard(txn.orderid)
        return JSONResponse({"error": "lost"}, status_code=500)
    return ok({"orderid": txn.orderid, "transid": txn.transid})


@_route("GET", "QueryTxn", 3)
async def query_txn(
    request: Request,
    _: SteamEmulator = Depends(publisher_key),
    state: MicroTxnState = Depends(microtxn),
) -> Response:
    params = await _params(request)
    txn = state.txns.get(params.get("orderid", ""))
    if txn is None and params.get("transid"):
        txn = next((t for t in state.txns.values() if t.transid == params["transid"]), None)
    return failure(3) if txn is None else ok(txn.params())


@_route("POST", "RefundTxn", 2)
async def refund_txn(
    request: Request,
    _: SteamEmulator = Depends(publisher_key),
    state: MicroTxnState = Depends(microtxn),
) -> Response:
    txn = state.txns.get((await _params(request)).get("orderid", ""))
    if txn is None or txn.status not in ("Succeeded", "PartialRefund"):
        return failure(3)
    _reverse(txn, "Refunded", None)
    return ok({"orderid": txn.orderid, "transid": txn.transid})


@_route("GET", "GetReport", 5)
async def get_report(
    request: Request,
    _: SteamEmulator = Depends(publisher_key),
    state: MicroTxnState = Depends(microtxn),
) -> Response:
    params = await _params(request)
    try:
        since = dt.datetime.fromisoformat(params["time"].replace("Z", "+00:00"))
        max_results = min(int(params.get("maxresults", "1000")), 50_000)
    except (KeyError, ValueError):
        return failure(3)
    if since.tzinfo is None or max_results < 1:
        return failure(3)
    since = since.replace(microsecond=0)
    found = sorted(
        (
            t
            for t in state.txns.values()
            if t.status not in ("Init", "Approved") and t.time.replace(microsecond=0) >= since
        ),
        key=lambda t: t.time,
    )[:max_results]
    return ok({"count": len(found), "orders": [t.params() for t in found]})


def _reverse(txn: Txn, status: str, itemids: list[str] | None) -> None:
    if itemids:
        for item in txn.items:
            if item["itemid"] in itemids:
                item["itemstatus"] = "Refunded"
        everything = all(i["itemstatus"] == "Refunded" for i in txn.items)
        txn.status = "Refunded" if everything else "PartialRefund"
    else:
        txn.status = status
        for item in txn.items:
            item["itemstatus"] = status
    txn.touch()


class Decision(BaseModel):
    errorcode: int | None = None  # deny: 10 (denied by user), 100 (funds), 104 (fraud)


class Reversal(BaseModel):
    status: str = "Refunded"
    itemids: list[str] | None = None  # PartialRefund of these items


emulator_router = APIRouter(prefix="/emulator/microtxn")


def _txn(state: MicroTxnState, orderid: str) -> Txn | None:
    return state.txns.get(orderid)


@emulator_router.post("/{orderid}/approve")
async def approve(orderid: str, state: MicroTxnState = Depends(microtxn)) -> Response:
    """The player approved the purchase in the overlay (`m_bAuthorized` = true)."""
    txn = _txn(state, orderid)
    if txn is None or txn.status != "Init":
        return JSONResponse({"error": "no pending order"}, status_code=404)
    txn.status = "Approved"
    txn.touch()
    return JSONResponse({"status": txn.status})


@emulator_router.post("/{orderid}/deny")
async def deny(
    orderid: str, body: Decision | None = None, state: MicroTxnState = Depends(microtxn)
) -> Response:
    """The purchase did not go through: refused by the player, the wallet or fraud checks."""
    txn = _txn(state, orderid)
    if txn is None or txn.status not in ("Init", "Approved"):
        return JSONResponse({"error": "no pending order"}, status_code=404)
    txn.status, txn.denial = "Failed", (body.errorcode if body and body.errorcode else 10)
    txn.touch()
    return JSONResponse({"status": txn.status})


@emulator_router.post("/{orderid}/refund")
async def refund(
    orderid: str, body: Reversal | None = None, state: MicroTxnState = Depends(microtxn)
) -> Response:
    """Support refunded (or a bank charged back) the whole order, or some of its items."""
    body = body or Reversal()
    txn = _txn(state, orderid)
    if txn is None or txn.status not in ("Succeeded", "PartialRefund"):
        return JSONResponse({"error": "nothing to refund"}, status_code=404)
    if body.status not in REVERSALS:
        return JSONResponse({"error": "unknown status"}, status_code=422)
    _reverse(txn, body.status, body.itemids)
    return JSONResponse({"status": txn.status})


class Refusal(BaseModel):
    steamid: str
    errorcode: int = 107


@emulator_router.post("/refuse-next-init")
async def refuse_next_init(body: Refusal, state: MicroTxnState = Depends(microtxn)) -> Response:
    """The player's next InitTxn fails with `errorcode` (107: a purchase pending elsewhere)."""
    state.refuse_init[body.steamid] = body.errorcode
    return JSONResponse({"ok": True})


class WalletIn(BaseModel):
    currency: str = "USD"
    country: str = "US"
    state: str = ""
    status: str = "Active"  # Locked, Active or Trusted


@emulator_router.put("/users/{steamid}/wallet")
async def set_wallet(
    steamid: str, body: WalletIn, state: MicroTxnState = Depends(microtxn)
) -> Response:
    """The player's Steam wallet: its currency, country and status (GetUserInfo)."""
    state.wallets[steamid] = Wallet(body.currency, body.country, body.state, body.status)
    return JSONResponse({"ok": True})


@emulator_router.post("/{orderid}/lose-finalize-answer")
async def lose_finalize_answer(orderid: str, state: MicroTxnState = Depends(microtxn)) -> Response:
    """The next FinalizeTxn for this order captures the money but answers 500."""
    state.lose_finalize_answer.add(orderid)
    return JSONResponse({"ok": True})


@emulator_router.get("/{orderid}")
async def show(orderid: str, state: MicroTxnState = Depends(microtxn)) -> Response:
    txn = _txn(state, orderid)
    return JSONResponse(
        txn.params() if txn else {"error": "unknown"}, status_code=200 if txn else 404
    )
