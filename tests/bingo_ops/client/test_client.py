"""BingoClient and BingoHttp over real loopback sockets against the local emulator."""

from __future__ import annotations

import asyncio
import random
import socket
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bingo_ops.client import (
    ApiError,
    Backoff,
    BingoClient,
    BingoHttp,
    ClientState,
    ClientStopped,
    PublicTokenSource,
    TokenCache,
)
from bingo_ops.client.ws import TokenProvider
from bingo_ops.emulator.server import LocalStack, StackOptions

WAIT_S = 5.0
# Eight words fill a 3x3 card (the centre is free), so every card holds all of them.
WORDS = ["w-alpha", "w-bravo", "w-charlie", "w-delta", "w-echo", "w-foxtrot", "w-golf", "w-hotel"]
EVENT_TYPES = ("activity_event", "game_state_changed")


def options(state_dir: Path, http_port: int = 0, ws_port: int = 0, **extra: Any) -> StackOptions:
    return StackOptions(
        state_dir=state_dir,
        host="127.0.0.1",
        http_port=http_port,
        ws_port=ws_port,
        management_api="inprocess",
        idle_timeout_s=extra.pop("idle_timeout_s", 600.0),
        hard_timeout_s=7200.0,
        **extra,
    )


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def fast(seed: int) -> Backoff:
    """Full jitter with a 50 ms base, so reconnects in tests take milliseconds."""
    return Backoff(base=0.05, cap=0.5, rng=random.Random(seed))


def caught_up(game_id: str, seq: int) -> Callable[[ClientState], bool]:
    """The client has every event up to `seq` and the leaderboard as of `seq`."""

    def check(state: ClientState) -> bool:
        feed, view = state.feeds[game_id], state.games[game_id]
        return feed.last_seq == seq and view.leaderboard_seq >= seq and not feed.behind

    return check


def rows(board: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A player's own row is flagged in replies to it, not in broadcasts; compare the rest.
    return [{k: v for k, v in row.items() if k != "isYou"} for row in board]


def event_seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages if m["type"] in EVENT_TYPES]


async def drain(stream: Any) -> list[dict[str, Any]]:
    """Everything a stopped client's `messages()` iterator still holds."""
    return [message async for message in stream]


def routes(stack: LocalStack, function: str) -> dict[str, int]:
    found: dict[str, int] = stack.meter.snapshot()["lambda"]["functions"][function]["routes"]
    return found


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.01)


class Gate:
    """A token provider that holds connection attempts while closed (to make clients miss
    events deterministically)."""

    def __init__(self, source: str | TokenProvider) -> None:
        self.source = source
        self.opened = asyncio.Event()
        self.opened.set()

    async def __call__(self, refresh: bool = False) -> str:
        await self.opened.wait()
        if isinstance(self.source, str):
            return self.source
        return await self.source(refresh)


async def new_game(admin: BingoHttp) -> str:
    created = await admin.create_game(name="Room 1", grid_size=3, words=WORDS)
    game_id: str = created["gameId"]
    return game_id


async def check_matches_server(
    http: BingoHttp, game_id: str, client: BingoClient, delivered: list[dict[str, Any]]
) -> dict[str, Any]:
    """The client saw the server's log exactly once each, in order, and its standings."""
    log = await http.all_events(game_id)
    game = await http.game(game_id)
    assert [e["seq"] for e in log] == list(range(1, game["seq"] + 1))
    assert event_seqs(delivered) == [e["seq"] for e in log]  # none lost, none repeated
    assert client.state.events == log[-50:]
    server_board = await http.leaderboard(game_id)
    assert rows(client.state.leaderboard) == rows(server_board["leaderboard"])
    assert client.state.total_players == server_board["totalPlayers"]
    return game


def test_a_player_and_a_board_see_a_whole_game_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            LocalStack(options(tmp_path / "state")) as stack,
            BingoHttp(stack.outputs["httpUrl"], token=stack.admin_token()) as admin,
        ):
            game_id = await new_game(admin)
            ann = await admin.join("ann", game_id)
            bob = await admin.join("bob", game_id)
            ann_http = admin.with_token(ann["token"])
            bob_http = admin.with_token(bob["token"])
            player_seen: list[dict[str, Any]] = []
            player = BingoClient(
                stack.outputs["wsUrl"],
                ann["token"],
                games=[game_id],
                after_seq=0,
                backoff=fast(1),
                on_message=player_seen.append,
            )
            board = BingoClient.board(
                stack.outputs["httpUrl"],
                stack.outputs["wsUrl"],
                games=[game_id],
                cache=TokenCache(tmp_path / "cache"),
                after_seq=0,
                backoff=fast(2),
            )
            board_stream = board.messages()
            async with player, board:
                await player.wait_connected(WAIT_S)
                await board.wait_connected(WAIT_S)
                await admin.change_state(game_id, "playing", "keynote starts")
                card = await ann_http.card(game_id)
                top_row = card["cells"][:3]  # row 0 never holds the free centre
                for word in top_row:
                    await ann_http.mark(game_id, word)
                await ann_http.mark(game_id, top_row[0])  # idempotent: emits nothing
                await bob_http.mark(game_id, "w-hotel")
                claim = await ann_http.claim_bingo(game_id)
                assert claim["state"] == "bingo"
                await admin.change_state(game_id, "ended", "verified")
                final = (await admin.game(game_id))["seq"]
                for client in (player, board):
                    await client.wait_for(caught_up(game_id, final), WAIT_S)
            assert player.closed
            assert board.closed
            assert player.error is None
            assert board.error is None
            board_seen = await drain(board_stream)

            game = await check_matches_server(admin, game_id, player, player_seen)
            await check_matches_server(admin, game_id, board, board_seen)
            assert game["state"] == "ended"
            assert game["winner"] == "ann"
            types = [e["type"] for e in board.state.events]
            assert types == [
                "game_created",
                "player_joined",
                "player_joined",
                "state_changed",
                "word_marked",
                "word_marked",
                "word_marked",
                "word_marked",
                "bingo_claimed",
                "state_changed",
                "state_changed",
            ]
            for client in (player, board):
                assert client.state.game is not None
                assert client.state.game.game_state == "ended"
                assert client.state.game.winner == "ann"
                assert client.state.connections == 1
                assert client.state.last_error is None
            # Replies to the player flag its own row; a board sees nobody as "you".
            flagged = {
                row["nickname"]
                for m in player_seen
                if m["type"] == "leaderboard_update"
                for row in m["leaderboard"]
                if row.get("isYou")
            }
            assert flagged == {"ann"}
            assert not any(
                row.get("isYou")
                for m in board_seen
                if m["type"] == "leaderboard_update"
                for row in m["leaderboard"]
            )
            assert [r["nickname"] for r in board.state.leaderboard] == ["ann", "bob"]
            assert [r["points"] for r in board.state.leaderboard] == [30, 10]
            # Leaderboards reach the application in seq order, never an older after a newer.
            board_seqs = [m["seq"] for m in board_seen if m["type"] == "leaderboard_update"]
            assert board_seqs == sorted(board_seqs)
            assert board_seqs[-1] == final

    asyncio.run(scenario())


def test_after_an_emulator_restart_clients_resume_without_loss_or_duplicates(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        state_dir = tmp_path / "state"
        cache = TokenCache(tmp_path / "cache")
        async with LocalStack(options(state_dir)) as first:
            outputs = dict(first.outputs)
            admin_token = first.admin_token()
            async with BingoHttp(outputs["httpUrl"], token=admin_token) as admin:
                game_id = await new_game(admin)
                ann = await admin.join("ann", game_id)
                bob = await admin.join("bob", game_id)
                await admin.change_state(game_id, "playing", "go")
                ann_http = admin.with_token(ann["token"])
                top_row = (await ann_http.card(game_id))["cells"][:3]  # a line, never the centre
                await ann_http.mark(game_id, top_row[0])
        same_address = options(state_dir, port_of(outputs["httpUrl"]), port_of(outputs["wsUrl"]))
        # The clients start while the stack is down and keep trying until it is back.
        player_gate = Gate(ann["token"])
        board_gate = Gate(PublicTokenSource(outputs["httpUrl"], cache=cache))
        player_seen: list[dict[str, Any]] = []
        board_seen: list[dict[str, Any]] = []
        player = BingoClient(
            outputs["wsUrl"],
            player_gate,
            games=[game_id],
            after_seq=0,
            max_attempts=None,  # the test, not the backoff, decides when the stack is back
            backoff=fast(3),
            on_message=player_seen.append,
        )
        board = BingoClient(
            outputs["wsUrl"],
            board_gate,
            games=[game_id],
            kind="public",
            after_seq=0,
            backoff=fast(4),
            on_message=board_seen.append,
        )
        async with player, board:
            await player.wait_for(lambda s: s.last_error is not None, WAIT_S)
            assert player.state.last_error is not None
            assert "Connect" in player.state.last_error  # refused: nothing listening
            async with (
                LocalStack(same_address),
                BingoHttp(outputs["httpUrl"], token=admin_token) as admin,
            ):
                await player.wait_connected(WAIT_S)
                await board.wait_connected(WAIT_S)
                await admin.with_token(ann["token"]).mark(game_id, top_row[1])
                mid = (await admin.game(game_id))["seq"]
                for client in (player, board):
                    await client.wait_for(caught_up(game_id, mid), WAIT_S)
                # Hold the reconnects, so the clients surely miss what happens next.
                player_gate.opened.clear()
                board_gate.opened.clear()
            async with (
                LocalStack(same_address) as restarted,
                BingoHttp(outputs["httpUrl"], token=admin_token) as admin,
            ):
                ann_http = admin.with_token(ann["token"])
                bob_http = admin.with_token(bob["token"])
                await bob_http.mark(game_id, "w-charlie")
                await bob_http.mark(game_id, "w-delta")
                await ann_http.mark(game_id, top_row[2])
                missed = (await admin.game(game_id))["seq"]
                assert missed == mid + 3
                assert not player.state.connected
                assert not board.state.connected
                player_gate.opened.set()
                board_gate.opened.set()
                for client in (player, board):
                    await client.wait_for(caught_up(game_id, missed), WAIT_S)
                # Each resubscribed and resumed once (metered when the handler returns, which
                # may be just after its last post arrived).
                expected = {"subscribe": 2, "resume": 2}
                await eventually(lambda: routes(restarted, "ws_message") == expected)
                await bob_http.mark(game_id, "w-echo")
                await ann_http.claim_bingo(game_id)
                await admin.change_state(game_id, "ended", "verified")
                final = (await admin.game(game_id))["seq"]
                for client in (player, board):
                    await client.wait_for(caught_up(game_id, final), WAIT_S)
                await player.close()
                await board.close()
                for client, seen in ((player, player_seen), (board, board_seen)):
                    await check_matches_server(admin, game_id, client, seen)
                    assert client.state.connections == 2
                    assert client.state.last_error is None
                    assert client.state.last_disconnect is not None
                    assert "1001" in client.state.last_disconnect  # the stack went away
                    assert client.state.game is not None
                    assert client.state.game.winner == "ann"
                    assert client.error is None

    asyncio.run(scenario())


def test_a_board_reuses_its_cached_public_token_across_runs(tmp_path: Path) -> None:
    async def scenario() -> None:
        cache = TokenCache(tmp_path / "cache")
        async with (
            LocalStack(options(tmp_path / "state")) as stack,
            BingoHttp(stack.outputs["httpUrl"], token=stack.admin_token()) as admin,
        ):
            game_id = await new_game(admin)
            for run in range(2):
                board = BingoClient.board(
                    stack.outputs["httpUrl"],
                    stack.outputs["wsUrl"],
                    games=[game_id],
                    cache=cache,
                    backoff=fast(run),
                )
                async with board:
                    await board.wait_for(caught_up(game_id, 1), WAIT_S)
                assert board.state.events[0]["type"] == "game_created"
            # One token for both runs: the second came from the 0600 file.
            assert routes(stack, "http_api")["POST /public/token"] == 1
            assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
            cached = cache.load(stack.outputs["httpUrl"])
            assert cached is not None
            assert cached.permissions == ("read_events", "read_leaderboard")
            # BingoHttp.public_token reads the same cache entry.
            async with BingoHttp(stack.outputs["httpUrl"], cache=cache) as http:
                assert await http.public_token() == cached
            assert routes(stack, "http_api")["POST /public/token"] == 1

    asyncio.run(scenario())


def test_a_board_replaces_a_cached_token_the_stack_no_longer_accepts(tmp_path: Path) -> None:
    async def scenario() -> None:
        cache = TokenCache(tmp_path / "cache")
        async with LocalStack(options(tmp_path / "old")) as old:
            url = old.outputs["httpUrl"]
            async with BingoHttp(url, cache=cache) as http:
                stale = await http.public_token()
            ports = (port_of(url), port_of(old.outputs["wsUrl"]))
        # Same address, new state dir: new secrets, so the cached token no longer verifies.
        async with (
            LocalStack(options(tmp_path / "new", *ports)) as stack,
            BingoHttp(stack.outputs["httpUrl"], token=stack.admin_token()) as admin,
        ):
            game_id = await new_game(admin)
            board = BingoClient.board(
                url, stack.outputs["wsUrl"], games=[game_id], cache=cache, backoff=fast(5)
            )
            async with board:
                await board.wait_for(caught_up(game_id, 1), WAIT_S)
            fresh = cache.load(url)
            assert fresh is not None
            assert fresh.token != stale.token
            assert fresh.device_id == stale.device_id  # still the same board
            assert stack.meter.snapshot()["websocket"]["connectionsRejected"] == {"401": 1}

    asyncio.run(scenario())


def test_a_refused_token_stops_the_client_without_retrying(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with LocalStack(options(tmp_path / "state")) as stack:
            client = BingoClient(
                stack.outputs["wsUrl"], "not-a-jwt", games=["g"], kind="public", backoff=fast(6)
            )
            with pytest.raises(ClientStopped, match="HTTP 401"):
                await client.run()
            assert client.closed
            assert client.state.last_error is not None
            assert "not-a-jwt" not in client.state.last_error  # the token stays out of logs
            assert stack.meter.snapshot()["websocket"]["connectionsRejected"] == {"401": 1}
            with pytest.raises(ClientStopped):
                await client.wait_connected(WAIT_S)
            with pytest.raises(ClientStopped, match="HTTP 401"):
                await drain(client.messages())

    asyncio.run(scenario())


def test_a_player_gives_up_after_its_maximum_of_attempts(tmp_path: Path) -> None:
    async def scenario() -> None:
        with socket.socket() as probe:  # a port with nothing listening
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = BingoClient(
            f"ws://127.0.0.1:{port}/local", "token", games=["g"], max_attempts=3, backoff=fast(7)
        )
        async with client:
            with pytest.raises(ClientStopped, match="3 failed attempts"):
                await client.wait_connected(WAIT_S)
        assert isinstance(client.error, ClientStopped)
        assert client.state.connections == 0

    asyncio.run(scenario())


def test_close_interrupts_a_board_that_keeps_reconnecting() -> None:
    async def scenario() -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        board = BingoClient(
            f"ws://127.0.0.1:{port}/local",
            "token",
            games=["g"],
            kind="public",
            backoff=Backoff(base=30.0, cap=30.0, rng=random.Random(8)),
        )
        board.start()
        await asyncio.sleep(0.1)  # now sleeping up to 30 s before the next attempt
        async with asyncio.timeout(WAIT_S):
            await board.close()
        assert board.closed
        assert board.error is None

    asyncio.run(scenario())


def test_the_heartbeat_keeps_an_idle_connection_open(tmp_path: Path) -> None:
    async def scenario() -> None:
        stack_options = options(tmp_path / "state", idle_timeout_s=0.4)
        async with (
            LocalStack(stack_options) as stack,
            BingoHttp(stack.outputs["httpUrl"], token=stack.admin_token()) as admin,
        ):
            game_id = await new_game(admin)
            ann = await admin.join("ann", game_id)
            pongs: list[dict[str, Any]] = []
            beating = BingoClient(
                stack.outputs["wsUrl"],
                ann["token"],
                games=[game_id],
                heartbeat_s=0.1,
                backoff=fast(9),
                on_message=lambda m: pongs.append(m) if m["type"] == "pong" else None,
            )
            silent = BingoClient(
                stack.outputs["wsUrl"], ann["token"], games=[game_id], backoff=fast(10)
            )
            async with beating, silent:
                await beating.wait_for(lambda s: len(pongs) >= 6, WAIT_S)
                await silent.wait_for(lambda s: s.connections >= 2, WAIT_S)
            assert beating.state.connections == 1  # never idle long enough to be closed
            assert silent.state.last_disconnect is not None
            assert "1001" in silent.state.last_disconnect  # API Gateway's "Going away"
            assert silent.state.last_error is None  # cleared by the successful reconnect

    asyncio.run(scenario())


def test_send_action_and_errors_on_the_wire(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            LocalStack(options(tmp_path / "state")) as stack,
            BingoHttp(stack.outputs["httpUrl"], token=stack.admin_token()) as admin,
        ):
            game_id = await new_game(admin)
            other_game = await new_game(admin)
            token = (await admin.join("ann", game_id))["token"]
            client = BingoClient(stack.outputs["wsUrl"], token, games=[game_id], backoff=fast(11))
            stream = client.messages()
            async with client:
                await client.wait_for(caught_up(game_id, 2), WAIT_S)
                await client.send_action("get_leaderboard", gameId=game_id)
                await client.send_action("shout")
                await client.wait_for(lambda s: s.last_error is not None, WAIT_S)
                assert client.state.last_error is not None
                assert client.state.last_error.startswith("unknown_action:")
                client.state.clear_error()
                # A player may not follow another game: the server says so, nothing breaks.
                await client.send_action("subscribe", gameId=other_game)
                await client.wait_for(lambda s: s.last_error is not None, WAIT_S)
                assert client.state.last_error is not None
                assert client.state.last_error.startswith("wrong_game:")
                await client.send_action("ping")
            seen = await drain(stream)
            errors = [m for m in seen if m["type"] == "error"]
            assert [(e["code"], e.get("action")) for e in errors] == [
                ("unknown_action", "shout"),
                ("wrong_game", "subscribe"),
            ]
            assert [m["seq"] for m in seen if m["type"] == "leaderboard_update"][-1] == 2
            with pytest.raises(ApiError) as refused:
                await admin.with_token(token).mark(other_game, "w-alpha")
            assert (refused.value.status, refused.value.code) == (403, "wrong_game")

    asyncio.run(scenario())


def test_http_helpers_cover_the_rest_routes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            LocalStack(options(tmp_path / "state")) as stack,
            BingoHttp(stack.outputs["httpUrl"], token=stack.admin_token()) as admin,
        ):
            with pytest.raises(ApiError) as missing:
                await admin.current_game()
            assert (missing.value.status, missing.value.code) == (404, "game_not_found")
            game_id = await new_game(admin)
            assert (await admin.current_game())["gameId"] == game_id
            ann = admin.with_token((await admin.join("ann"))["token"])  # joins the current game
            await admin.change_state(game_id, "playing", "go")
            marked = await ann.mark(game_id, "w-echo")
            assert marked["newlyMarked"]
            page = await admin.events(game_id, after=1, limit=2)
            assert [e["seq"] for e in page["events"]] == [2, 3]
            assert [e["seq"] for e in await admin.all_events(game_id, after=2)] == [3, 4]
            polled = await admin.poll_stream(game_id, after=3)
            assert [e["seq"] for e in polled["events"]] == [4]
            assert (await admin.leaderboard(game_id, limit=1))["leaderboard"][0]["points"] == 10
            with pytest.raises(ApiError) as no_bingo:
                await ann.claim_bingo(game_id)
            assert no_bingo.value.status == 422
            await admin.change_state(game_id, "cancelled", "fire drill")
            history = await admin.history(limit=5)
            assert [g["gameId"] for g in history["games"]] == [game_id]
            with pytest.raises(ApiError) as unauthorized:
                await admin.with_token(None).game(game_id)
            assert unauthorized.value.status == 401

    asyncio.run(scenario())
