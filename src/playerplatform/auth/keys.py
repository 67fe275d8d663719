"""Signing keys for access tokens: asymmetric (EdDSA by default, ES256 optional), each with a
`kid`, published at `/.well-known/jwks.json`. Rotation makes a new active key; retired keys
stay published until every token they signed has expired."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jwt
import orjson
import sqlalchemy as sa
import structlog
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import ECAlgorithm, OKPAlgorithm
from nacl.signing import SigningKey as Ed25519SigningKey

from playerplatform.auth.models import SigningKey
from playerplatform.kit.db import Database, UnitOfWork, utcnow
from playerplatform.kit.errors import InvalidToken, TokenExpired
from playerplatform.kit.settings import Settings

log = structlog.get_logger("playerplatform.auth")
RELOAD_INTERVAL = 60.0
VERIFY_LEEWAY = 5
VERIFIED_CACHE_SIZE = 10_000
UNKNOWN_KID_RELOAD_INTERVAL = 5.0


def _generate(algorithm: str) -> tuple[str, dict[str, Any]]:
    private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
        jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    else:
        raise ValueError(f"unsupported signing algorithm {algorithm}")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, jwk


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class Signer:
    """Signs compact JWS tokens with one key: the header segment is encoded once, the claims
    with orjson. Ed25519 signatures come from libsodium (PyNaCl), about 40% faster than
    OpenSSL's here; ES256 from `cryptography`, its DER signature turned into JWS's r || s.
    Tokens are ordinary JWTs: any JOSE library verifies them against the JWKS."""

    __slots__ = ("_header", "_sign", "algorithm", "kid")

    def __init__(self, kid: str, algorithm: str, private: Any) -> None:
        self.kid = kid
        self.algorithm = algorithm
        header = {"alg": algorithm, "kid": kid, "typ": "JWT"}
        self._header = _b64(orjson.dumps(header)) + b"."
        self._sign: Callable[[bytes], bytes]
        if algorithm == "EdDSA":
            seed = private.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            key = Ed25519SigningKey(seed)
            self._sign = lambda message: key.sign(message).signature
        elif algorithm == "ES256":
            curve = ec.ECDSA(hashes.SHA256())

            def sign_es256(message: bytes) -> bytes:
                r, s = decode_dss_signature(private.sign(message, curve))
                return r.to_bytes(32, "big") + s.to_bytes(32, "big")

            self._sign = sign_es256
        else:
            raise ValueError(f"unsupported signing algorithm {algorithm}")

    def sign(self, claims: dict[str, Any]) -> str:
        message = self._header + _b64(orjson.dumps(claims))
        return (message + b"." + _b64(self._sign(message))).decode("ascii")


class KeyRing:
    """Process-local cache of the signing keys, reloaded from the database every minute and
    at once when a token names a `kid` it does not know (another process rotated)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._signing: Signer | None = None  # the active key
        self._verifying: dict[str, tuple[str, Any]] = {}  # kid -> alg, public key
        self._jwks: dict[str, Any] = {"keys": []}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()
        self._reloading: asyncio.Task[None] | None = None
        self._verified: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    async def load(self, *, create_if_missing: bool = False) -> None:
        async with self._lock:
            # A read: reloads run inside requests that may hold SQLite's write lock.
            async with self.db.unit_of_work(write=False) as uow:
                rows = await self._published(uow)
            if create_if_missing and not any(r.status == "active" for r in rows):
                async with self.db.unit_of_work() as uow:
                    if uow.dialect == "postgresql":
                        # Several API processes start at once on a fresh database: one makes
                        # the key, the others wait here and then find it.
                        await uow.session.execute(
                            sa.text("SELECT pg_advisory_xact_lock(hashtext('pp.signing_keys'))")
                        )
                    if not any(r.status == "active" for r in await self._published(uow)):
                        await self._create(uow)
                    rows = await self._published(uow)
            self._install(rows)

    async def rotate(self, uow: UnitOfWork) -> tuple[str, list[str]]:
        """Create a new active key; retire the old ones. Returns (new kid, retired kids)."""
        now = utcnow()
        result = await uow.session.execute(
            sa.update(SigningKey)
            .where(SigningKey.status == "active")
            .values(status="retired", retired_at=now)
            .returning(SigningKey.kid)
        )
        retired = [row[0] for row in result]
        kid = await self._create(uow)
        uow.after_commit(self._reload_now)
        return kid, retired

    async def _reload_now(self) -> None:
        await self.load()

    async def _create(self, uow: UnitOfWork) -> str:
        algorithm = self.settings.jwt_algorithm
        pem, jwk = _generate(algorithm)
        kid = f"{utcnow():%Y%m%d}-{secrets.token_hex(6)}"
        jwk.update({"kid": kid, "alg": algorithm, "use": "sig"})
        uow.session.add(
            SigningKey(
                kid=kid, algorithm=algorithm, private_pem=pem, public_jwk=jwk, status="active"
            )
        )
        await uow.session.flush()
        return kid

    async def _published(self, uow: UnitOfWork) -> list[SigningKey]:
        # Keep retired keys while tokens they signed (access and merge tokens) may be alive.
        horizon = utcnow() - dt.timedelta(
            seconds=max(self.settings.access_token_ttl, self.settings.merge_token_ttl) + 60
        )
        result = await uow.session.execute(
            sa.select(SigningKey)
            .where(sa.or_(SigningKey.status == "active", SigningKey.retired_at > horizon))
            .order_by(SigningKey.created_at.desc())
        )
        return list(result.scalars())

    def _install(self, rows: list[SigningKey]) -> None:
        verifying: dict[str, tuple[str, Any]] = {}
        signing = None
        for row in rows:
            private = serialization.load_pem_private_key(row.private_pem.encode(), password=None)
            verifying[row.kid] = (row.algorithm, private.public_key())
            if row.status == "active" and signing is None:
                signing = Signer(row.kid, row.algorithm, private)
        self._signing = signing
        self._verifying = verifying
        self._jwks = {"keys": [dict(row.public_jwk) for row in rows]}
        self._loaded_at = time.monotonic()

    async def _maybe_reload(self, *, unknown_kid: bool = False) -> None:
        age = time.monotonic() - self._loaded_at
        if unknown_kid and age > UNKNOWN_KID_RELOAD_INTERVAL:
            await self.load()  # the token may be signed by a key another process just made
        elif age > RELOAD_INTERVAL and self._reloading is None:
            # Routine refresh off the request path: this request signs with the current key.
            self._loaded_at = time.monotonic()
            self._reloading = asyncio.create_task(self._background_reload())

    async def _background_reload(self) -> None:
        try:
            await self.load()
        except Exception:  # the next interval tries again; the keys in hand stay valid
            log.warning("signing_keys_reload_failed", exc_info=True)
        finally:
            self._reloading = None

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    async def sign(self, claims: dict[str, Any]) -> str:
        await self._maybe_reload()
        if self._signing is None:
            await self.load(create_if_missing=True)
        assert self._signing is not None
        return self._signing.sign(claims)

    async def decode(self, token: str, *, audience: str) -> dict[str, Any]:
        """Verify signature, `iss`, `aud`, `exp`; raise `InvalidToken`/`TokenExpired`.

        A token verified before is served from a small per-process cache: a signature that
        verified once verifies forever, and the expiry is checked again on every use."""
        remembered = self._verified.get((token, audience))
        if remembered is not None:
            if remembered["exp"] + VERIFY_LEEWAY > time.time():
                self._verified.move_to_end((token, audience))
                return dict(remembered)
            del self._verified[(token, audience)]
        claims = await self._verify(token, audience=audience)
        self._verified[(token, audience)] = claims
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return dict(claims)

    async def _verify(self, token: str, *, audience: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The token is malformed.") from None
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("The token has no key id.")
        entry = self._verifying.get(kid)
        if entry is None:
            await self._maybe_reload(unknown_kid=True)
            entry = self._verifying.get(kid)
            if entry is None:
                raise InvalidToken("The token was signed by an unknown key.")
        algorithm, public = entry
        if header.get("alg") != algorithm:
            raise InvalidToken("The token's algorithm does not match its key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                public,
                algorithms=[algorithm],
                audience=audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                leeway=VERIFY_LEEWAY,
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("The token has expired.") from None
        except jwt.PyJWTError:
            raise InvalidToken("The token is not valid.") from None
        return claims
