"""Signed bearer tokens (HS256 JWTs) for players, public readers and admins, with key rotation."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from backend.domain.errors import (
    InvalidToken,
    MissingPermission,
    TokenExpired,
    WrongGame,
    WrongTokenKind,
)

# _KEEP_JWT_OFF_THE_IMPORT_PATH: PyJWT's package init imports its JWKS client (urllib,
# http.client, ssl, email), about 50 ms of a Lambda cold start. `jwt` is imported where tokens
# are signed or verified, so $connect, $disconnect and message handlers, which only read the
# authorizer's context, never load it (bench/coldstart.py measures this).


class TokenKind(StrEnum):
    """Who a token speaks for; each kind has its own keys, audience and `typ`."""

    USER = "user"
    PUBLIC = "public"
    ADMIN = "admin"


ISSUER: Final = "bingo-ops"

READ_LEADERBOARD: Final = "read_leaderboard"
READ_EVENTS: Final = "read_events"
PUBLIC_PERMISSIONS: Final = frozenset({READ_LEADERBOARD, READ_EVENTS})

USER_TOKEN_TTL_S: Final = 24 * 3600
PUBLIC_TOKEN_TTL_S: Final = 30 * 24 * 3600
ADMIN_TOKEN_TTL_S: Final = 12 * 3600

# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits).
MIN_SECRET_BYTES: Final = 32
# Our tokens are a few hundred characters; anything far larger is garbage or an attack on the
# parser, so it is refused before any decoding work is done.
MAX_TOKEN_CHARS: Final = 4096
# RFC 7519 §4.1.4 allows "some small leeway" for clock skew between issuer and verifier.
LEEWAY_S: Final = 5

# The one algorithm we sign and accept. Pinning it (rather than trusting the header's `alg`) is
# what RFC 8725 §2.1 / §3.1 asks for: no "none", no algorithm substitution.
_ALGORITHM: Final = "HS256"
_KID_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DEFAULT_TTL_S: Final[Mapping[TokenKind, int]] = MappingProxyType(
    {
        TokenKind.USER: USER_TOKEN_TTL_S,
        TokenKind.PUBLIC: PUBLIC_TOKEN_TTL_S,
        TokenKind.ADMIN: ADMIN_TOKEN_TTL_S,
    }
)
_ARTICLE: Final[Mapping[TokenKind, str]] = MappingProxyType(
    {TokenKind.USER: "a", TokenKind.PUBLIC: "a", TokenKind.ADMIN: "an"}
)
_REQUIRED_CLAIMS: Final = ["exp", "iat", "iss", "aud", "sub"]


def _typ(kind: TokenKind) -> str:
    """The JOSE `typ` header value of a kind (explicit typing, RFC 8725 §3.11)."""
    return f"bingo-{kind}+jwt"


def _audience(kind: TokenKind) -> str:
    """The `aud` claim of a kind, so a token of one kind can never pass as another."""
    return f"bingo-ops:{kind}"


_KIND_BY_TYP: Final[Mapping[str, TokenKind]] = MappingProxyType(
    {_typ(kind): kind for kind in TokenKind}
)


class KeyringError(ValueError):
    """A keyring's configuration is unusable; messages never contain a secret."""


@dataclass(frozen=True)
class Keyring:
    """The HMAC secrets of one token kind, by key id.

    New tokens are signed with `active_kid`; tokens signed with any other key still in `keys`
    keep verifying, which is how secrets rotate without logging everybody out.

    Attributes:
        kind: The token kind these keys sign.
        keys: Secret by key id (`kid`). Left out of `repr` so secrets never reach a log.
        active_kid: The key id new tokens are signed with.

    Raises:
        KeyringError: If there are no keys, `active_kid` is not among them, a key id is not
            1-64 characters of `[A-Za-z0-9._-]` or a secret is shorter than `MIN_SECRET_BYTES`.
    """

    kind: TokenKind
    keys: Mapping[str, bytes] = field(repr=False)
    active_kid: str

    def __post_init__(self) -> None:
        try:
            kind = TokenKind(self.kind)
        except ValueError:
            raise KeyringError("unknown token kind") from None
        if not self.keys:
            raise KeyringError(f"the {kind} keyring has no keys")
        for kid, secret in self.keys.items():
            # A malformed kid is not echoed: a mangled spec can put a secret where a kid belongs.
            if not isinstance(kid, str) or not _KID_RE.fullmatch(kid):
                raise KeyringError(
                    f"a {kind} key id is not 1-64 characters of letters, digits, '.', '_', '-'"
                )
            if not isinstance(secret, bytes):
                raise KeyringError(f"the secret of {kind} key {kid!r} is not bytes")
            if len(secret) < MIN_SECRET_BYTES:
                raise KeyringError(
                    f"the secret of {kind} key {kid!r} is shorter than {MIN_SECRET_BYTES} bytes"
                )
        if self.active_kid not in self.keys:
            raise KeyringError(f"the active {kind} key id is not in the keyring")
        object.__setattr__(self, "kind", kind)
        # A private, read-only copy: later changes to the caller's dict cannot swap keys.
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    @classmethod
    def parse(cls, kind: TokenKind, spec: str) -> Keyring:
        """Read a keyring from its configuration string.

        Args:
            kind: The token kind the keys sign.
            spec: `"kid1:secret1,kid2:secret2"`; secrets are UTF-8 text, the first entry is the
                active key and whitespace around entries, key ids and secrets is ignored.

        Returns:
            The keyring.

        Raises:
            KeyringError: If the spec is empty or malformed, a key id repeats, or the keys
                themselves are invalid (see `Keyring`).
        """
        if not spec.strip():
            raise KeyringError(f"the {kind} keyring spec is empty")
        keys: dict[str, bytes] = {}
        active_kid = ""
        for position, entry in enumerate(spec.split(","), start=1):
            kid, colon, secret = entry.strip().partition(":")
            kid, secret = kid.strip(), secret.strip()
            # Messages name entries by position only: the text of a bad entry may be a secret.
            if not colon or not kid or not secret:
                raise KeyringError(f"{kind} keyring entry {position} is not 'kid:secret'")
            if kid in keys:
                raise KeyringError(f"{kind} keyring entry {position} repeats a key id")
            keys[kid] = secret.encode("utf-8")
            if position == 1:
                active_kid = kid
        return cls(kind=kind, keys=keys, active_kid=active_kid)


def generate_spec(kid: str = "k1") -> str:
    """Create a keyring spec with one fresh random secret, for `Keyring.parse`.

    Args:
        kid: The key id of the new secret.

    Returns:
        `"<kid>:<secret>"` where the secret is 48 random bytes, URL-safe base64 encoded.

    Raises:
        KeyringError: If `kid` is not 1-64 characters of `[A-Za-z0-9._-]`.
    """
    if not _KID_RE.fullmatch(kid):
        raise KeyringError("a key id must be 1-64 characters of letters, digits, '.', '_', '-'")
    return f"{kid}:{secrets.token_urlsafe(48)}"


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says.

    Attributes:
        kind: The token's kind.
        subject: The session id (user), device id (public) or admin's name (admin).
        issued_at: `iat`, epoch seconds.
        expires_at: `exp`, epoch seconds.
        game_id: The game a user token belongs to; `None` for other kinds.
        nickname: The player's nickname in a user token; `None` for other kinds.
        permissions: What a public token may read; empty for other kinds.
    """

    kind: TokenKind
    subject: str
    issued_at: float
    expires_at: float
    game_id: str | None = None
    nickname: str | None = None
    permissions: frozenset[str] = frozenset()


class TokenService:
    """Issues and verifies the tokens of every kind it has a keyring for.

    Args:
        keyrings: One keyring per token kind this service handles, keyed by that kind.
        issuer: The `iss` claim written and required.

    Raises:
        KeyringError: If there are no keyrings, a keyring is filed under another kind than its
            own, or `issuer` is empty.
    """

    def __init__(self, keyrings: Mapping[TokenKind, Keyring], issuer: str = ISSUER) -> None:
        if not keyrings:
            raise KeyringError("a token service needs at least one keyring")
        for kind, keyring in keyrings.items():
            if keyring.kind != kind:
                raise KeyringError(f"the {keyring.kind} keyring is configured as the {kind} one")
        if not issuer:
            raise KeyringError("the token issuer must not be empty")
        self._keyrings: Mapping[TokenKind, Keyring] = MappingProxyType(
            {keyring.kind: keyring for keyring in keyrings.values()}
        )
        self._issuer = issuer

    def issue(
        self,
        kind: TokenKind,
        subject: str,
        *,
        now: float,
        ttl_s: int | None = None,
        game_id: str | None = None,
        nickname: str | None = None,
        permissions: Iterable[str] | None = None,
    ) -> str:
        """Sign a token of any kind with that kind's active key.

        Args:
            kind: The token kind.
            subject: The `sub` claim; a non-empty string.
            now: The current time, epoch seconds; `iat` is its whole-second part.
            ttl_s: Lifetime in seconds; defaults to the kind's `*_TOKEN_TTL_S`.
            game_id: Required for, and only allowed in, user tokens.
            nickname: Required for, and only allowed in, user tokens.
            permissions: Only allowed in public tokens; defaults to `PUBLIC_PERMISSIONS` there.

        Returns:
            The compact JWT.

        Raises:
            KeyringError: If the service has no keyring for `kind`.
            ValueError: If the subject, lifetime, time or kind-specific arguments are wrong.
        """
        kind = TokenKind(kind)
        keyring = self._keyrings.get(kind)
        if keyring is None:
            raise KeyringError(f"no {kind} keyring is configured")
        if not isinstance(subject, str) or not subject:
            raise ValueError("a token subject must be a non-empty string")
        if not math.isfinite(now):
            raise ValueError("now must be a finite number of seconds")
        ttl = _DEFAULT_TTL_S[kind] if ttl_s is None else ttl_s
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise ValueError("a token lifetime must be a positive whole number of seconds")

        # RFC 7519 §2: NumericDate may be fractional, but whole seconds keep tokens short and
        # comparable across implementations.
        issued_at = math.floor(now)
        payload: dict[str, Any] = {
            "iss": self._issuer,
            # RFC 8725 §3.9: a distinct audience per kind keeps one kind from being replayed as
            # another even if keys were ever shared.
            "aud": _audience(kind),
            "sub": subject,
            "iat": issued_at,
            "exp": issued_at + ttl,
        }
        if kind is TokenKind.USER:
            if not game_id or not nickname:
                raise ValueError("a user token needs a game_id and a nickname")
            payload["gid"] = game_id
            payload["nick"] = nickname
        elif game_id is not None or nickname is not None:
            raise ValueError("game_id and nickname belong in user tokens only")
        if kind is TokenKind.PUBLIC:
            perms = PUBLIC_PERMISSIONS if permissions is None else frozenset(permissions)
            # A bare string would otherwise become a set of its characters.
            if isinstance(permissions, str) or not all(isinstance(p, str) for p in perms):
                raise ValueError("permissions must be a collection of strings")
            payload["perm"] = sorted(perms)
        elif permissions is not None:
            raise ValueError("permissions belong in public tokens only")

        headers = {"alg": _ALGORITHM, "typ": _typ(kind), "kid": keyring.active_kid}
        import jwt  # deferred: see _KEEP_JWT_OFF_THE_IMPORT_PATH

        return jwt.encode(
            payload, keyring.keys[keyring.active_kid], algorithm=_ALGORITHM, headers=headers
        )

    def issue_user(self, session_id: str, game_id: str, nickname: str, *, now: float) -> str:
        """Sign a player's token for one game.

        Args:
            session_id: The player's session id (`sub`).
            game_id: The game joined (`gid`).
            nickname: The player's nickname in that game (`nick`).
            now: The current time, epoch seconds.

        Returns:
            The token, valid for `USER_TOKEN_TTL_S`.
        """
        return self.issue(TokenKind.USER, session_id, now=now, game_id=game_id, nickname=nickname)

    def issue_public(
        self,
        device_id: str,
        *,
        now: float,
        permissions: Collection[str] = PUBLIC_PERMISSIONS,
    ) -> tuple[str, float]:
        """Sign a read-only token for a public screen or spectator device.

        Args:
            device_id: The device's id (`sub`).
            now: The current time, epoch seconds.
            permissions: What the token may read.

        Returns:
            The token, valid for `PUBLIC_TOKEN_TTL_S`, and its expiry in epoch seconds.
        """
        token = self.issue(TokenKind.PUBLIC, device_id, now=now, permissions=permissions)
        return token, float(math.floor(now) + PUBLIC_TOKEN_TTL_S)

    def issue_admin(self, subject: str, *, now: float, ttl_s: int = ADMIN_TOKEN_TTL_S) -> str:
        """Sign an admin's token.

        Args:
            subject: Who the admin is (`sub`).
            now: The current time, epoch seconds.
            ttl_s: Lifetime in seconds.

        Returns:
            The token.
        """
        return self.issue(TokenKind.ADMIN, subject, now=now, ttl_s=ttl_s)

    def verify(self, token: str, *, now: float, accept: Collection[TokenKind]) -> TokenClaims:
        """Check a token's signature, claims and kind.

        Args:
            token: The compact JWT as received.
            now: The current time, epoch seconds.
            accept: The kinds this caller allows; must not be empty.

        Returns:
            The token's claims.

        Raises:
            InvalidToken: If the token is malformed, too long, of another algorithm or `typ`,
                signed by an unknown key or with a bad signature, of the wrong issuer or
                audience, lacks a required claim, or was issued in the future.
            TokenExpired: If `now` is `LEEWAY_S` or more past its `exp`.
            WrongTokenKind: If the token is valid but its kind is not in `accept`.
            ValueError: If `accept` is empty or `now` is not finite.
        """
        accepted = frozenset(TokenKind(kind) for kind in accept)
        if not accepted:
            raise ValueError("accept must name at least one token kind")
        if not math.isfinite(now):
            # NaN compares false with everything and would make every token unexpired.
            raise ValueError("now must be a finite number of seconds")
        if not isinstance(token, str) or not token:
            raise InvalidToken("no token")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("token is too long")

        kind, key = self._key_for(token)
        import jwt  # deferred: see _KEEP_JWT_OFF_THE_IMPORT_PATH

        try:
            payload = jwt.decode(
                token,
                key,
                # Hard-coded, never taken from the header (RFC 8725 §3.1).
                algorithms=[_ALGORITHM],
                audience=_audience(kind),
                issuer=self._issuer,
                options={
                    "require": _REQUIRED_CLAIMS,
                    # Time is checked below against the injected `now`, not PyJWT's clock.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidToken("token signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("token is from another issuer") from None
        except jwt.PyJWTError:
            # PyJWT's messages can quote parts of the token; ours never do.
            raise InvalidToken("token is malformed") from None

        claims = _claims(kind, payload)
        if now >= claims.expires_at + LEEWAY_S:
            # RFC 7519 §4.1.4: the token is valid only *before* `exp` (plus leeway).
            raise TokenExpired("token has expired")
        if claims.issued_at > now + LEEWAY_S:
            raise InvalidToken("token was issued in the future")
        # Only a genuine, current token gets to say which kind it is (and so reveal it).
        if kind not in accepted:
            raise WrongTokenKind(f"{_describe(accepted)} token is required")
        return claims

    def _key_for(self, token: str) -> tuple[TokenKind, bytes]:
        """Pick the kind and key a token claims from its (not yet trusted) header."""
        import jwt  # deferred: see _KEEP_JWT_OFF_THE_IMPORT_PATH

        try:
            header = jwt.get_unverified_header(token)
        except Exception:  # any failure to parse attacker input means a malformed token
            raise InvalidToken("token is malformed") from None
        if header.get("alg") != _ALGORITHM:
            raise InvalidToken("token algorithm is not accepted")
        # RFC 7515 §4.1.11: we implement no extensions, so none may be marked critical.
        if "crit" in header:
            raise InvalidToken("token uses unsupported critical header parameters")
        typ = header.get("typ")
        kind = _KIND_BY_TYP.get(typ) if isinstance(typ, str) else None
        if kind is None:
            # RFC 8725 §3.11: the explicit `typ` decides which rules (and keys) apply.
            raise InvalidToken("token type is not accepted")
        keyring = self._keyrings.get(kind)
        kid = header.get("kid")
        if keyring is None or not isinstance(kid, str) or kid not in keyring.keys:
            raise InvalidToken("token is signed by an unknown key")
        return kind, keyring.keys[kid]


def _claims(kind: TokenKind, payload: Mapping[str, Any]) -> TokenClaims:
    """Turn a signature-checked payload into `TokenClaims`, checking every claim's type."""
    subject = payload["sub"]
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("token subject is empty")
    issued_at = _numeric_date(payload, "iat")
    expires_at = _numeric_date(payload, "exp")
    game_id = nickname = None
    permissions: frozenset[str] = frozenset()
    if kind is TokenKind.USER:
        game_id = _string_claim(payload, "gid")
        nickname = _string_claim(payload, "nick")
    elif kind is TokenKind.PUBLIC:
        if "perm" not in payload:
            raise InvalidToken("token lacks the 'perm' claim")
        perm = payload["perm"]
        if not isinstance(perm, list) or not all(isinstance(p, str) for p in perm):
            raise InvalidToken("token 'perm' claim is not a list of strings")
        # Unknown names are kept: they grant nothing, since checks ask for known ones only.
        permissions = frozenset(perm)
    return TokenClaims(
        kind=kind,
        subject=subject,
        issued_at=issued_at,
        expires_at=expires_at,
        game_id=game_id,
        nickname=nickname,
        permissions=permissions,
    )


def _numeric_date(payload: Mapping[str, Any], name: str) -> float:
    """Read a NumericDate claim (RFC 7519 §2): a finite JSON number."""
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"token {name!r} claim is not a number")
    result = float(value)
    if not math.isfinite(result):
        raise InvalidToken(f"token {name!r} claim is not a number")
    return result


def _string_claim(payload: Mapping[str, Any], name: str) -> str:
    """Read a required, non-empty string claim."""
    if name not in payload:
        raise InvalidToken(f"token lacks the {name!r} claim")
    value = payload[name]
    if not isinstance(value, str) or not value:
        raise InvalidToken(f"token {name!r} claim is not a non-empty string")
    return value


def _describe(kinds: Collection[TokenKind]) -> str:
    """Name token kinds for a message: "a user", "a user or admin"."""
    ordered = [kind for kind in TokenKind if kind in kinds]
    return f"{_ARTICLE[ordered[0]]} {' or '.join(ordered)}"


def require_permission(claims: TokenClaims, permission: str) -> None:
    """Check that verified claims may perform a public read.

    User and admin tokens pass: players and admins read the public data too.

    Args:
        claims: Claims returned by `TokenService.verify`.
        permission: One of `PUBLIC_PERMISSIONS`.

    Raises:
        MissingPermission: If a public token does not carry `permission`.
    """
    if claims.kind is TokenKind.PUBLIC and permission not in claims.permissions:
        raise MissingPermission(f"this token lacks the {permission!r} permission")


def require_game(claims: TokenClaims, game_id: str) -> None:
    """Check that verified claims may act on or read `game_id`.

    A player's token belongs to one game; public and admin tokens are not tied to a game.

    Raises:
        WrongGame: If a user token is for another game.
    """
    if claims.kind is TokenKind.USER and claims.game_id != game_id:
        raise WrongGame("your session belongs to another game")
