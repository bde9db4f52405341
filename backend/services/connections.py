"""WebSocket use cases: connect, disconnect, subscribe, unsubscribe, leaderboard, resume, ping."""

from __future__ import annotations

from backend.domain import messages, tokens
from backend.domain.model import Audience, Connection
from backend.domain.scoring import DEFAULT_LEADERBOARD_SIZE
from backend.domain.tokens import TokenClaims, TokenKind
from backend.services import broadcast
from backend.services.context import CONNECTION_TTL_S, Deps

# Events replayed per `resume`; a client further behind sees `leaderboard_update.seq` beyond
# its last event and resumes again from there.
MAX_RESUME_EVENTS = 200


def _check_read(claims: TokenClaims, game_id: str, permission: str) -> None:
    # A player reads their own game; a board reads any game its permissions cover.
    tokens.require_game(claims, game_id)
    tokens.require_permission(claims, permission)


def connect(deps: Deps, connection_id: str, claims: TokenClaims) -> None:
    """Record a connection the authorizer allowed."""
    now = deps.clock()
    deps.store.put_connection(
        Connection(
            connection_id=connection_id,
            kind=str(claims.kind),
            subject=claims.subject,
            connected_at=now,
            expires_at=now + CONNECTION_TTL_S,
            game_id=claims.game_id,
            nickname=claims.nickname,
            permissions=claims.permissions,
        )
    )


def disconnect(deps: Deps, connection_id: str) -> None:
    """Forget a connection and its subscriptions."""
    deps.store.delete_connection(connection_id)


def _viewer(claims: TokenClaims) -> str | None:
    return claims.subject if claims.kind is TokenKind.USER else None


def subscribe(
    deps: Deps, connection_id: str, claims: TokenClaims, game_id: str, feed: bool | None = None
) -> None:
    """Subscribe to a game's broadcasts; answer `subscribed` and the current leaderboard.

    The token says who listens: a public token is a `board`, a user token a `player` whose
    viewer is their session (their own row is shown). Boards get the activity feed unless
    they decline it; players only when they ask (`feed=True`), since a phone on a conference's
    network pays for every frame. Subscribing again replaces the audience and the choice of
    feed. The subscription is written before the leaderboard is read, so every event after the
    `seq` the client is told about reaches it by broadcast.

    Args:
        deps: The services' dependencies.
        connection_id: The subscribing connection.
        claims: Its verified token, as the authorizer passed it on.
        game_id: The game.
        feed: Whether to receive the activity feed; None for the audience's default.

    Raises:
        WrongGame: a player subscribing to another game.
        MissingPermission: a public token without `read_leaderboard`.
        GameNotFound: no such game.
    """
    _check_read(claims, game_id, tokens.READ_LEADERBOARD)
    viewer = _viewer(claims)
    audience = Audience.BOARD if viewer is None else Audience.PLAYER
    now = deps.clock()
    deps.store.subscribe(
        game_id,
        connection_id,
        now=now,
        expires_at=now + CONNECTION_TTL_S,
        audience=audience,
        viewer=viewer,
        feed=(audience is Audience.BOARD) if feed is None else feed,
    )
    board = deps.store.leaderboard(game_id, limit=DEFAULT_LEADERBOARD_SIZE)
    broadcast.send(deps, connection_id, messages.subscribed(game_id, board.seq))
    update = messages.leaderboard_update(board, deps.clock(), viewer)
    broadcast.send(deps, connection_id, update)


def unsubscribe(deps: Deps, connection_id: str, game_id: str) -> None:
    """Stop a game's broadcasts to this connection. Idempotent."""
    deps.store.unsubscribe(game_id, connection_id)
    broadcast.send(deps, connection_id, messages.unsubscribed(game_id))


def get_leaderboard(deps: Deps, connection_id: str, claims: TokenClaims, game_id: str) -> None:
    """Send the game's leaderboard to this connection only.

    Raises:
        WrongGame: a player asking about another game.
        MissingPermission: a public token without `read_leaderboard`.
        GameNotFound: no such game.
    """
    _check_read(claims, game_id, tokens.READ_LEADERBOARD)
    board = deps.store.leaderboard(game_id, limit=DEFAULT_LEADERBOARD_SIZE)
    update = messages.leaderboard_update(board, deps.clock(), _viewer(claims))
    broadcast.send(deps, connection_id, update)


def resume(
    deps: Deps, connection_id: str, claims: TokenClaims, game_id: str, after_seq: int
) -> int:
    """Replay the events after `after_seq` to this connection, then the leaderboard.

    Returns:
        How many events were replayed.

    Raises:
        WrongGame: a player asking about another game.
        MissingPermission: a public token without `read_events`.
        GameNotFound: no such game.
    """
    _check_read(claims, game_id, tokens.READ_EVENTS)
    deps.store.get_game(game_id)
    found = deps.store.events_after(game_id, after_seq, limit=MAX_RESUME_EVENTS, now=deps.clock())
    for event in found:
        if not broadcast.send(deps, connection_id, messages.event_message(event)):
            return 0
    get_leaderboard(deps, connection_id, claims, game_id)
    return len(found)


def ping(deps: Deps, connection_id: str) -> None:
    """Answer the application heartbeat."""
    broadcast.send(deps, connection_id, messages.pong(deps.clock()))
