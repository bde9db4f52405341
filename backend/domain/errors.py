"""The one error tree: every failure a client can see is a `BingoError` with a stable `code`.

HTTP statuses, WebSocket error frames and authorizer decisions are derived from these classes in
exactly one place, `backend.handlers.errors`.
"""

from __future__ import annotations

from typing import ClassVar


class BingoError(Exception):
    """Base of every error the backend reports to a client.

    Attributes:
        code: Stable, machine-readable identifier (part of the wire contract).
        message: Human-readable explanation, safe to show to the caller.
    """

    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- 400: the request itself is wrong ---------------------------------------------------------
class InvalidRequest(BingoError):
    """A request is malformed or a field has the wrong type or value."""

    code = "invalid_request"


class MalformedJson(InvalidRequest):
    """The body is not a JSON object."""

    code = "malformed_json"


class UnknownAction(InvalidRequest):
    """A WebSocket message names an action the API does not have."""

    code = "unknown_action"


class InvalidNickname(InvalidRequest):
    """A nickname is empty, too long or contains control characters."""

    code = "invalid_nickname"


class InvalidWordList(InvalidRequest):
    """An admin's word list cannot fill a card of the requested size."""

    code = "invalid_word_list"


class WordNotOnCard(InvalidRequest):
    """A player tried to mark a word that is not on their own card."""

    code = "word_not_on_card"


class PayloadTooLarge(InvalidRequest):
    """A body or frame exceeds the size the route accepts."""

    code = "payload_too_large"


# -- 401 / 403: who is asking -----------------------------------------------------------------
class Unauthorized(BingoError):
    """No credentials, or credentials that do not verify."""

    code = "unauthorized"


class InvalidToken(Unauthorized):
    """A token is malformed, badly signed, of an unknown key or missing required claims."""

    code = "invalid_token"


class TokenExpired(Unauthorized):
    """A token's `exp` lies in the past."""

    code = "token_expired"


class Forbidden(BingoError):
    """Valid credentials that do not allow this operation."""

    code = "forbidden"


class WrongTokenKind(Forbidden):
    """A token of one kind (user, public, admin) where another kind is required."""

    code = "wrong_token_kind"


class MissingPermission(Forbidden):
    """A public token without the permission this read needs."""

    code = "missing_permission"


class WrongGame(Forbidden):
    """A player's token is for a different game than the one addressed."""

    code = "wrong_game"


# -- 404 ----------------------------------------------------------------------------------------
class NotFound(BingoError):
    """The addressed resource does not exist."""

    code = "not_found"


class GameNotFound(NotFound):
    """No game with that id."""

    code = "game_not_found"


class PlayerNotFound(NotFound):
    """No player with that session in that game."""

    code = "player_not_found"


class RouteNotFound(NotFound):
    """No HTTP route matches the method and path."""

    code = "route_not_found"


class MethodNotAllowed(BingoError):
    """The path exists but not with this HTTP method.

    Attributes:
        allowed: The methods the path does accept (for the `Allow` header).
    """

    code = "method_not_allowed"

    def __init__(self, message: str, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.allowed = allowed


# -- 409 / 422: the game's state does not allow it ---------------------------------------------
class Conflict(BingoError):
    """The request is valid but conflicts with the current state."""

    code = "conflict"


class InvalidTransition(Conflict):
    """The game cannot move from its current state to the requested one."""

    code = "invalid_transition"


class GameNotAccepting(Conflict):
    """The game's state does not accept this (marks outside `playing`, joins after the end)."""

    code = "game_not_accepting"


class NicknameTaken(Conflict):
    """Another player in the game already uses this nickname (ignoring case)."""

    code = "nickname_taken"


class ClaimPending(Conflict):
    """A bingo claim is already awaiting verification in this game."""

    code = "claim_pending"


class NoBingo(BingoError):
    """A bingo claim without a complete row, column or diagonal."""

    code = "no_bingo_line"


# -- 5xx ---------------------------------------------------------------------------------------
class Unavailable(BingoError):
    """A dependency (storage, the gateway) failed; retrying later may succeed."""

    code = "unavailable"
