"""Tests for backend.domain.tokens: issuing, verifying, rotating and scoping bearer tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Callable, Collection
from typing import Any

import jwt
import pytest

from backend.domain import tokens
from backend.domain.errors import (
    InvalidToken,
    MissingPermission,
    TokenExpired,
    WrongGame,
    WrongTokenKind,
)
from backend.domain.tokens import (
    ADMIN_TOKEN_TTL_S,
    ISSUER,
    LEEWAY_S,
    MAX_TOKEN_CHARS,
    PUBLIC_PERMISSIONS,
    PUBLIC_TOKEN_TTL_S,
    READ_EVENTS,
    READ_LEADERBOARD,
    USER_TOKEN_TTL_S,
    Keyring,
    KeyringError,
    TokenClaims,
    TokenKind,
    TokenService,
    generate_spec,
    require_permission,
)

NOW = 1_700_000_000.0
USER, PUBLIC, ADMIN = TokenKind.USER, TokenKind.PUBLIC, TokenKind.ADMIN
ALL_KINDS = (USER, PUBLIC, ADMIN)
KID = {USER: "u1", PUBLIC: "p1", ADMIN: "a1"}
SECRET = {USER: b"user-secret-" * 3, PUBLIC: b"public-secret-" * 3, ADMIN: b"admin-secret-" * 3}
TTL = {USER: USER_TOKEN_TTL_S, PUBLIC: PUBLIC_TOKEN_TTL_S, ADMIN: ADMIN_TOKEN_TTL_S}
# A recognisable secret for checking that error messages never leak one.
LEAKY = "s3cr3t-" * 6


# -- helpers ------------------------------------------------------------------------------------
def keyring(kind: TokenKind, **keys: bytes) -> Keyring:
    keys = keys or {KID[kind]: SECRET[kind]}
    return Keyring(kind=kind, keys=keys, active_kid=next(iter(keys)))


def service(**overrides: Keyring) -> TokenService:
    rings = {kind: keyring(kind) for kind in ALL_KINDS}
    rings.update({TokenKind(name): ring for name, ring in overrides.items()})
    return TokenService(rings)


def issue(svc: TokenService, kind: TokenKind, *, now: float = NOW) -> str:
    if kind is USER:
        return svc.issue_user("session-1", "game-1", "Ada", now=now)
    if kind is PUBLIC:
        return svc.issue_public("device-1", now=now)[0]
    return svc.issue_admin("root", now=now)


def claims_for(kind: TokenKind, **changes: Any) -> dict[str, Any]:
    """The payload `issue` would write, with changes; a value of None drops the claim."""
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": f"bingo-ops:{kind}",
        "sub": "subject-1",
        "iat": int(NOW),
        "exp": int(NOW) + 3600,
    }
    if kind is USER:
        payload |= {"gid": "game-1", "nick": "Ada"}
    if kind is PUBLIC:
        payload["perm"] = sorted(PUBLIC_PERMISSIONS)
    payload |= changes
    return {name: value for name, value in payload.items() if value is not None}


def header_for(kind: TokenKind, **changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": "HS256", "typ": f"bingo-{kind}+jwt", "kid": KID[kind]}
    header |= changes
    return {name: value for name, value in header.items() if value is not None}


def sign(kind: TokenKind, payload: dict[str, Any], **header_changes: Any) -> str:
    """Sign with PyJWT, the right key and (unless changed) the right header."""
    return jwt.encode(payload, SECRET[kind], headers=header_for(kind, **header_changes))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge(
    header: dict[str, Any],
    payload: Any,
    key: bytes | None = None,
    digest: Callable[..., Any] = hashlib.sha256,
) -> str:
    """Build a token by hand, so headers PyJWT would refuse to write can be tested."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def verify(
    token: Any, *, now: float = NOW, accept: Collection[TokenKind] = ALL_KINDS
) -> TokenClaims:
    return service().verify(token, now=now, accept=accept)


# -- round trips --------------------------------------------------------------------------------
def test_user_token_round_trip() -> None:
    token = service().issue_user("session-1", "game-1", "Ada", now=NOW + 0.75)

    claims = verify(token, accept=[USER])

    assert claims == TokenClaims(
        kind=USER,
        subject="session-1",
        issued_at=NOW,
        expires_at=NOW + USER_TOKEN_TTL_S,
        game_id="game-1",
        nickname="Ada",
    )


def test_public_token_round_trip_lasts_30_days_with_both_permissions() -> None:
    token, expires_at = service().issue_public("device-1", now=NOW)

    claims = verify(token, accept=[PUBLIC])

    assert expires_at == NOW + 30 * 24 * 3600
    assert claims == TokenClaims(
        kind=PUBLIC,
        subject="device-1",
        issued_at=NOW,
        expires_at=expires_at,
        permissions=frozenset({READ_LEADERBOARD, READ_EVENTS}),
    )


def test_admin_token_round_trip() -> None:
    token = service().issue_admin("root", now=NOW, ttl_s=600)

    claims = verify(token, accept=[ADMIN])

    assert claims == TokenClaims(kind=ADMIN, subject="root", issued_at=NOW, expires_at=NOW + 600)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_issued_tokens_have_the_documented_header_and_claims(kind: TokenKind) -> None:
    token = issue(service(), kind, now=NOW + 0.5)

    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})

    assert header == {"alg": "HS256", "typ": f"bingo-{kind}+jwt", "kid": KID[kind]}
    assert payload["iss"] == ISSUER
    assert payload["aud"] == f"bingo-ops:{kind}"
    assert payload["iat"] == int(NOW)
    assert payload["exp"] == int(NOW) + TTL[kind]
    assert type(payload["iat"]) is int
    assert type(payload["exp"]) is int
    assert ("gid" in payload, "nick" in payload) == (kind is USER, kind is USER)
    assert ("perm" in payload) == (kind is PUBLIC)


def test_generic_issue_writes_sorted_permissions() -> None:
    token = service().issue(PUBLIC, "d", now=NOW, permissions={"zeta", READ_EVENTS})

    assert jwt.decode(token, options={"verify_signature": False})["perm"] == [READ_EVENTS, "zeta"]
    assert verify(token).permissions == {READ_EVENTS, "zeta"}


def test_a_token_is_accepted_by_any_accept_set_that_contains_its_kind() -> None:
    token = issue(service(), ADMIN)

    assert verify(token, accept={USER, ADMIN}).kind is ADMIN


# -- algorithm confusion (RFC 8725 §2.1) --------------------------------------------------------
@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_unsigned_tokens_are_rejected(alg: str) -> None:
    token = forge(header_for(USER, alg=alg), claims_for(USER))
    assert token.endswith(".")

    with pytest.raises(InvalidToken, match="algorithm"):
        verify(token)


def test_hs512_token_with_the_right_key_is_rejected() -> None:
    token = forge(header_for(USER, alg="HS512"), claims_for(USER), SECRET[USER], hashlib.sha512)

    with pytest.raises(InvalidToken, match="algorithm"):
        verify(token)


def test_rs256_header_is_rejected() -> None:
    token = forge(header_for(USER, alg="RS256"), claims_for(USER), SECRET[USER])

    with pytest.raises(InvalidToken, match="algorithm"):
        verify(token)


@pytest.mark.parametrize("alg", [None, 256, ["HS256"]])
def test_missing_or_non_string_alg_is_rejected(alg: Any) -> None:
    token = forge(header_for(USER, alg=alg), claims_for(USER), SECRET[USER])

    with pytest.raises(InvalidToken, match="algorithm"):
        verify(token)


def test_hs256_header_over_an_hs512_signature_is_rejected() -> None:
    token = forge(header_for(USER), claims_for(USER), SECRET[USER], hashlib.sha512)

    with pytest.raises(InvalidToken, match="signature"):
        verify(token)


def test_critical_header_extensions_are_rejected() -> None:
    # PyJWT itself refuses unknown extensions; "b64" (RFC 7797) it knows, but we do not.
    token = forge(header_for(USER, crit=["b64"], b64=True), claims_for(USER), SECRET[USER])

    with pytest.raises(InvalidToken, match="critical"):
        verify(token)


# -- signatures and keys ------------------------------------------------------------------------
def test_same_kid_other_secret_is_rejected() -> None:
    token = jwt.encode(claims_for(USER), b"x" * 32, headers=header_for(USER))

    with pytest.raises(InvalidToken, match="signature"):
        verify(token)


def test_tampered_payload_is_rejected() -> None:
    header, _, signature = issue(service(), USER).split(".")
    payload = b64(json.dumps(claims_for(USER, nick="Mallory")).encode())

    with pytest.raises(InvalidToken, match="signature"):
        verify(f"{header}.{payload}.{signature}")


def test_tampered_signature_is_rejected() -> None:
    token = issue(service(), USER)
    flipped = "A" if token[-2] != "A" else "B"

    with pytest.raises(InvalidToken):
        verify(f"{token[:-2]}{flipped}{token[-1]}")


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("k9", id="unknown"),
        pytest.param(None, id="missing"),
        pytest.param(KID[PUBLIC], id="another-kinds-kid"),
    ],
)
def test_bad_kid_is_rejected(kid: Any) -> None:
    header = header_for(USER, kid=kid)

    with pytest.raises(InvalidToken, match="unknown key"):
        verify(forge(header, claims_for(USER), SECRET[PUBLIC]))


def test_non_string_kid_is_rejected() -> None:
    with pytest.raises(InvalidToken):
        verify(forge(header_for(USER, kid=1), claims_for(USER), SECRET[USER]))


def test_user_typ_signed_with_the_public_keyring_is_rejected() -> None:
    # Even a kid that exists in both keyrings cannot carry a token across kinds.
    shared = service(
        user=keyring(USER, k1=SECRET[USER]),
        public=keyring(PUBLIC, k1=SECRET[PUBLIC]),
    )
    token = forge(header_for(USER, kid="k1"), claims_for(USER), SECRET[PUBLIC])

    with pytest.raises(InvalidToken, match="signature"):
        shared.verify(token, now=NOW, accept=ALL_KINDS)


def test_token_of_a_kind_without_a_keyring_is_rejected() -> None:
    token = issue(service(), ADMIN)
    users_only = TokenService({USER: keyring(USER)})

    with pytest.raises(InvalidToken, match="unknown key"):
        users_only.verify(token, now=NOW, accept=ALL_KINDS)


def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() -> None:
    old, new = b"o" * 32, b"n" * 40
    before = service(user=Keyring(USER, {"k1": old}, "k1"))
    after = service(user=Keyring(USER, {"k2": new, "k1": old}, "k2"))
    retired = service(user=Keyring(USER, {"k2": new}, "k2"))
    old_token = issue(before, USER)
    new_token = issue(after, USER)

    assert after.verify(old_token, now=NOW, accept=[USER]).subject == "session-1"
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert retired.verify(new_token, now=NOW, accept=[USER]).subject == "session-1"
    with pytest.raises(InvalidToken, match="unknown key"):
        retired.verify(old_token, now=NOW, accept=[USER])


# -- typ and kind -------------------------------------------------------------------------------
@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "bingo-user+JWT", "bingo-root+jwt", 1])
def test_missing_or_unknown_typ_is_rejected(typ: Any) -> None:
    token = forge(header_for(USER, typ=typ), claims_for(USER), SECRET[USER])

    with pytest.raises(InvalidToken, match="type"):
        verify(token)


WRONG_KIND_CASES = [
    (kind, accept)
    for kind in ALL_KINDS
    for accept in (
        frozenset({USER}),
        frozenset({PUBLIC}),
        frozenset({ADMIN}),
        frozenset({USER, PUBLIC}),
        frozenset({USER, ADMIN}),
        frozenset({PUBLIC, ADMIN}),
    )
    if kind not in accept
]
REQUIRED_MESSAGE = {
    frozenset({USER}): "a user token is required",
    frozenset({PUBLIC}): "a public token is required",
    frozenset({ADMIN}): "an admin token is required",
    frozenset({USER, PUBLIC}): "a user or public token is required",
    frozenset({USER, ADMIN}): "a user or admin token is required",
    frozenset({PUBLIC, ADMIN}): "a public or admin token is required",
}


@pytest.mark.parametrize(
    ("kind", "accept"),
    WRONG_KIND_CASES,
    ids=[f"{kind}-not-in-{'+'.join(sorted(accept))}" for kind, accept in WRONG_KIND_CASES],
)
def test_valid_token_of_a_kind_not_accepted_is_wrong_kind(
    kind: TokenKind, accept: frozenset[TokenKind]
) -> None:
    token = issue(service(), kind)

    with pytest.raises(WrongTokenKind) as caught:
        verify(token, accept=accept)

    assert caught.value.message == REQUIRED_MESSAGE[accept]


def test_wrong_kind_is_only_reported_for_a_genuine_token() -> None:
    forged = jwt.encode(claims_for(ADMIN), b"x" * 32, headers=header_for(ADMIN))

    with pytest.raises(InvalidToken):
        verify(forged, accept=[USER])


def test_wrong_kind_is_only_reported_for_a_current_token() -> None:
    token = issue(service(), ADMIN)

    with pytest.raises(TokenExpired):
        verify(token, now=NOW + ADMIN_TOKEN_TTL_S + LEEWAY_S, accept=[USER])


# -- time ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("offset", "expired"),
    [
        pytest.param(-1, False, id="before-exp"),
        pytest.param(0, False, id="at-exp-within-leeway"),
        pytest.param(LEEWAY_S - 0.001, False, id="end-of-leeway"),
        pytest.param(LEEWAY_S, True, id="leeway-used-up"),
        pytest.param(3600, True, id="long-gone"),
    ],
)
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_expiry_honours_the_leeway(kind: TokenKind, offset: float, expired: bool) -> None:
    token = issue(service(), kind)
    now = NOW + TTL[kind] + offset

    if expired:
        with pytest.raises(TokenExpired):
            verify(token, now=now)
    else:
        assert verify(token, now=now).kind is kind


@pytest.mark.parametrize(
    ("issued_ahead", "ok"),
    [(LEEWAY_S, True), (LEEWAY_S + 1, False), (3600, False)],
)
def test_iat_in_the_future_is_rejected_beyond_the_leeway(issued_ahead: int, ok: bool) -> None:
    token = issue(service(), USER, now=NOW + issued_ahead)

    if ok:
        assert verify(token).issued_at == NOW + issued_ahead
    else:
        with pytest.raises(InvalidToken, match="future"):
            verify(token)


def test_fractional_numeric_dates_are_accepted() -> None:
    token = sign(ADMIN, claims_for(ADMIN, iat=NOW + 0.5, exp=NOW + 10.25))

    claims = verify(token)

    assert (claims.issued_at, claims.expires_at) == (NOW + 0.5, NOW + 10.25)


# -- claims -------------------------------------------------------------------------------------
MISSING_CLAIM_CASES = [
    *[(kind, claim) for kind in ALL_KINDS for claim in ("exp", "iat", "iss", "aud", "sub")],
    (USER, "gid"),
    (USER, "nick"),
    (PUBLIC, "perm"),
]


@pytest.mark.parametrize(
    ("kind", "claim"), MISSING_CLAIM_CASES, ids=[f"{k}-{c}" for k, c in MISSING_CLAIM_CASES]
)
def test_each_required_claim_missing_is_rejected(kind: TokenKind, claim: str) -> None:
    payload = claims_for(kind)
    del payload[claim]
    token = sign(kind, payload)

    with pytest.raises(InvalidToken) as caught:
        verify(token)

    assert claim in caught.value.message


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        pytest.param(USER, {"sub": 7}, id="sub-int"),
        pytest.param(USER, {"sub": ""}, id="sub-empty"),
        pytest.param(USER, {"iat": "yesterday"}, id="iat-str"),
        pytest.param(USER, {"exp": True}, id="exp-bool"),
        pytest.param(USER, {"exp": [1]}, id="exp-list"),
        pytest.param(USER, {"gid": 1}, id="gid-int"),
        pytest.param(USER, {"gid": ""}, id="gid-empty"),
        pytest.param(USER, {"nick": ["Ada"]}, id="nick-list"),
        pytest.param(PUBLIC, {"perm": READ_EVENTS}, id="perm-str"),
        pytest.param(PUBLIC, {"perm": [READ_EVENTS, 1]}, id="perm-non-str-item"),
        pytest.param(PUBLIC, {"perm": {"read": True}}, id="perm-object"),
        pytest.param(ADMIN, {"aud": ["x", 1]}, id="aud-mixed-list"),
        pytest.param(ADMIN, {"iss": 1}, id="iss-int"),
        pytest.param(ADMIN, {"jti": 1}, id="jti-int"),
    ],
)
def test_claims_of_the_wrong_type_are_rejected(kind: TokenKind, changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        verify(forge(header_for(kind), claims_for(kind, **changes), SECRET[kind]))


def test_wrong_issuer_is_rejected() -> None:
    with pytest.raises(InvalidToken, match="issuer"):
        verify(sign(USER, claims_for(USER, iss="someone-else")))


def test_service_with_another_issuer_rejects_our_tokens() -> None:
    other = TokenService({USER: keyring(USER)}, issuer="bingo-staging")

    with pytest.raises(InvalidToken, match="issuer"):
        other.verify(issue(service(), USER), now=NOW, accept=[USER])


@pytest.mark.parametrize("aud", ["bingo-ops:public", "bingo-ops:admin", "bingo-ops", ["x"]])
def test_user_typ_with_another_audience_is_rejected(aud: Any) -> None:
    with pytest.raises(InvalidToken, match="audience"):
        verify(sign(USER, claims_for(USER, aud=aud)))


def test_unknown_permissions_are_kept_but_grant_nothing() -> None:
    claims = verify(sign(PUBLIC, claims_for(PUBLIC, perm=["admin_everything"])))

    assert claims.permissions == {"admin_everything"}
    with pytest.raises(MissingPermission):
        require_permission(claims, READ_EVENTS)


# -- garbage ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="none"),
        pytest.param(123, id="int"),
        pytest.param(b"a.b.c", id="bytes"),
        pytest.param("", id="empty"),
        pytest.param("x" * (MAX_TOKEN_CHARS + 1), id="huge"),
        pytest.param("garbage", id="one-segment"),
        pytest.param("a.b", id="two-segments"),
        pytest.param("a.b.c", id="bad-base64"),
        pytest.param("...", id="empty-segments"),
        pytest.param("%%%.%%%.%%%", id="not-base64"),
        pytest.param(f"{b64(b'[1]')}.{b64(b'{}')}.", id="header-not-object"),
        pytest.param(f"{b64(b'{')}.{b64(b'{}')}.", id="header-not-json"),
        pytest.param(f"{b64(bytes([0xFF]))}.{b64(b'{}')}.", id="header-not-utf8"),
    ],
)
def test_garbage_is_an_invalid_token(token: Any) -> None:
    with pytest.raises(InvalidToken):
        verify(token)


def test_an_oversized_but_otherwise_valid_token_is_rejected() -> None:
    token = service().issue_user("s", "g", "n" * MAX_TOKEN_CHARS, now=NOW)

    with pytest.raises(InvalidToken, match="too long"):
        verify(token)


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'"string"'])
def test_signed_non_object_payloads_are_rejected(payload: bytes) -> None:
    signing_input = f"{b64(json.dumps(header_for(USER)).encode())}.{b64(payload)}"
    mac = hmac.new(SECRET[USER], signing_input.encode(), hashlib.sha256).digest()

    with pytest.raises(InvalidToken, match="malformed"):
        verify(f"{signing_input}.{b64(mac)}")


def test_error_messages_do_not_echo_the_token() -> None:
    token = forge(header_for(USER), claims_for(USER, sub="PAYLOAD-MARKER"), b"y" * 32)
    for candidate in (token, token + "garbage", "PAYLOAD-MARKER"):
        with pytest.raises(InvalidToken) as caught:
            verify(candidate)
        assert "PAYLOAD-MARKER" not in caught.value.message
        assert candidate not in caught.value.message


# -- permissions --------------------------------------------------------------------------------
@pytest.mark.parametrize("permission", sorted(PUBLIC_PERMISSIONS))
def test_require_permission(permission: str) -> None:
    svc = service()
    full = svc.verify(issue(svc, PUBLIC), now=NOW, accept=[PUBLIC])
    (token, _) = svc.issue_public("d", now=NOW, permissions=PUBLIC_PERMISSIONS - {permission})
    lacking = svc.verify(token, now=NOW, accept=[PUBLIC])

    require_permission(full, permission)
    with pytest.raises(MissingPermission, match=permission):
        require_permission(lacking, permission)


@pytest.mark.parametrize("kind", [USER, ADMIN])
@pytest.mark.parametrize("permission", sorted(PUBLIC_PERMISSIONS))
def test_user_and_admin_tokens_read_public_data(kind: TokenKind, permission: str) -> None:
    claims = verify(issue(service(), kind))

    assert claims.permissions == frozenset()
    require_permission(claims, permission)


# -- keyrings -----------------------------------------------------------------------------------
def test_keyring_parse_happy_path() -> None:
    spec = f" k2 : {LEAKY} ,\tk1:{LEAKY}:with:colons ,k.0_-Z:{'é' * 16}"

    ring = Keyring.parse(USER, spec)

    assert ring.kind is USER
    assert ring.active_kid == "k2"
    assert dict(ring.keys) == {
        "k2": LEAKY.encode(),
        "k1": f"{LEAKY}:with:colons".encode(),
        "k.0_-Z": ("é" * 16).encode("utf-8"),
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   ", "empty", id="blank"),
        pytest.param(LEAKY, "entry 1", id="no-colon"),
        pytest.param(f":{LEAKY}", "entry 1", id="no-kid"),
        pytest.param("k1:", "entry 1", id="no-secret"),
        pytest.param(f"k1:{LEAKY},", "entry 2", id="trailing-comma"),
        pytest.param(f"k1:{LEAKY},,k2:{LEAKY}", "entry 2", id="empty-entry"),
        pytest.param(f"k1:{LEAKY},k1:{LEAKY}x", "repeats", id="duplicate-kid"),
        pytest.param(f"bad kid:{LEAKY}", "key id", id="kid-with-space"),
        pytest.param(f"{LEAKY}/x:{LEAKY}", "key id", id="kid-looks-like-secret"),
        pytest.param("k1:s3cr3t-short", "shorter than 32 bytes", id="short-secret"),
    ],
)
def test_keyring_parse_errors_never_contain_the_secret(spec: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message) as caught:
        Keyring.parse(PUBLIC, spec)

    assert "s3cr3t" not in str(caught.value)


def test_short_secret_is_a_keyring_error() -> None:
    with pytest.raises(KeyringError, match="shorter than 32 bytes"):
        Keyring(USER, {"k1": b"x" * 31}, "k1")


def test_a_32_byte_secret_is_enough() -> None:
    assert Keyring(USER, {"k1": b"x" * 32}, "k1").active_kid == "k1"


@pytest.mark.parametrize("kid", ["", "a b", "k:1", "k/1", "ké", "x" * 65, "k1\n", 1])
def test_bad_kid_is_a_keyring_error(kid: Any) -> None:
    with pytest.raises(KeyringError, match="key id"):
        Keyring(USER, {kid: b"x" * 32}, kid)


def test_longest_kid_is_allowed() -> None:
    kid = "x" * 64

    assert Keyring(USER, {kid: b"x" * 32}, kid).active_kid == kid


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"kind": USER, "keys": {}, "active_kid": "k1"}, "no keys", id="empty"),
        pytest.param(
            {"kind": USER, "keys": {"k1": b"x" * 32}, "active_kid": "k2"},
            "active",
            id="active-missing",
        ),
        pytest.param(
            {"kind": USER, "keys": {"k1": "x" * 32}, "active_kid": "k1"},
            "not bytes",
            id="secret-not-bytes",
        ),
        pytest.param(
            {"kind": "root", "keys": {"k1": b"x" * 32}, "active_kid": "k1"},
            "kind",
            id="unknown-kind",
        ),
    ],
)
def test_invalid_keyrings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(KeyringError, match=message):
        Keyring(**kwargs)


def test_keyring_is_a_value_error_copies_its_keys_and_hides_them_from_repr() -> None:
    keys = {"k1": SECRET[USER]}
    ring = Keyring("user", keys, "k1")  # type: ignore[arg-type]
    keys["k1"] = b"z" * 32

    assert issubclass(KeyringError, ValueError)
    assert ring.kind is USER
    assert ring.keys["k1"] == SECRET[USER]
    assert "secret" not in repr(ring)


def test_generate_spec_makes_a_fresh_parseable_secret() -> None:
    first, second = generate_spec(), generate_spec("2024-06")

    ring = Keyring.parse(ADMIN, first)

    assert ring.active_kid == "k1"
    assert len(ring.keys["k1"]) == 64  # 48 random bytes, base64url
    assert second.startswith("2024-06:")
    assert first.split(":")[1] != generate_spec().split(":")[1]


@pytest.mark.parametrize("kid", ["", "a:b", "a,b", "x" * 65])
def test_generate_spec_rejects_bad_kids(kid: str) -> None:
    with pytest.raises(KeyringError, match="key id"):
        generate_spec(kid)


# -- service configuration and misuse -----------------------------------------------------------
def test_service_needs_a_keyring() -> None:
    with pytest.raises(KeyringError, match="at least one"):
        TokenService({})


def test_service_rejects_a_keyring_filed_under_another_kind() -> None:
    with pytest.raises(KeyringError, match="public keyring is configured as the user one"):
        TokenService({USER: keyring(PUBLIC)})


def test_service_rejects_an_empty_issuer() -> None:
    with pytest.raises(KeyringError, match="issuer"):
        TokenService({USER: keyring(USER)}, issuer="")


def test_issuing_a_kind_without_a_keyring_is_a_keyring_error() -> None:
    with pytest.raises(KeyringError, match="no admin keyring"):
        TokenService({USER: keyring(USER)}).issue_admin("root", now=NOW)


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        pytest.param(ADMIN, {"subject": ""}, id="empty-subject"),
        pytest.param(ADMIN, {"ttl_s": 0}, id="zero-ttl"),
        pytest.param(ADMIN, {"ttl_s": -5}, id="negative-ttl"),
        pytest.param(ADMIN, {"ttl_s": 1.5}, id="fractional-ttl"),
        pytest.param(ADMIN, {"now": math.nan}, id="nan-now"),
        pytest.param(USER, {"game_id": "g"}, id="user-without-nickname"),
        pytest.param(USER, {"nickname": "n"}, id="user-without-game"),
        pytest.param(ADMIN, {"game_id": "g"}, id="admin-with-game"),
        pytest.param(PUBLIC, {"nickname": "n"}, id="public-with-nickname"),
        pytest.param(USER, {"permissions": [READ_EVENTS]}, id="user-with-permissions"),
        pytest.param(PUBLIC, {"permissions": READ_EVENTS}, id="permissions-as-str"),
        pytest.param(PUBLIC, {"permissions": [1]}, id="permissions-not-str"),
    ],
)
def test_issue_rejects_bad_arguments(kind: TokenKind, kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"subject": "s", "now": NOW} | kwargs

    with pytest.raises(ValueError, match=r"."):
        service().issue(kind, **arguments)


@pytest.mark.parametrize(
    ("now", "accept"),
    [pytest.param(NOW, [], id="empty-accept"), pytest.param(math.nan, [USER], id="nan-now")],
)
def test_verify_rejects_bad_arguments(now: float, accept: list[TokenKind]) -> None:
    token = issue(service(), USER)

    with pytest.raises(ValueError, match=r"."):
        verify(token, now=now, accept=accept)


@pytest.mark.parametrize(
    ("kind", "game_id", "allowed"),
    [
        (TokenKind.USER, "game-1", True),
        (TokenKind.USER, "game-2", False),
        (TokenKind.PUBLIC, "game-2", True),
        (TokenKind.ADMIN, "game-2", True),
    ],
)
def test_require_game_ties_only_user_tokens_to_their_game(
    kind: TokenKind, game_id: str, allowed: bool
) -> None:
    claims = TokenClaims(
        kind=kind,
        subject="s",
        issued_at=0,
        expires_at=1,
        game_id="game-1" if kind is TokenKind.USER else None,
    )
    if allowed:
        tokens.require_game(claims, game_id)
    else:
        with pytest.raises(WrongGame):
            tokens.require_game(claims, game_id)
