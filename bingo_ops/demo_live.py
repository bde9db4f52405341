"""`bingo-ops demo`: a short game over real sockets on the local stack, watched by a board.

The local stack runs in this process; players and a public status board are real clients
(`BingoClient`) on loopback. A speaker says words from the game's list; every player who has a
word marks it; the first player with a complete line claims bingo and the organiser verifies.
The board's live leaderboard is drawn in the terminal as it changes, and the run ends with what
the stack metered.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bingo_ops.client import ApiError, BingoClient, BingoHttp, TokenCache
from bingo_ops.emulator.run import summary
from bingo_ops.emulator.server import LocalStack, StackOptions

NICKNAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")


@dataclass
class LiveResult:
    """What the live demo observed, for printing and for tests."""

    game_id: str
    winner: str | None
    final_state: str | None
    words_said: int
    marks: int
    board_leaderboard: list[dict[str, Any]]
    server_leaderboard: list[dict[str, Any]]
    board_events: int
    server_events: int
    metering: dict[str, Any] = field(default_factory=dict)


class BoardView:
    """Draws the board's leaderboard: in place on a terminal, as new lines otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._drawn = 0
        self._last = ""

    def draw(self, client: BingoClient, headline: str) -> None:
        """Show the board client's current standings under a headline."""
        game = client.state.game
        rows = game.leaderboard if game else []
        lines = [headline]
        lines += [
            f"  {r['rank']:>2}. {r['nickname']:<8} {r['points']:>4} pts  {r['marks']:>2} marks"
            for r in rows[:8]
        ]
        text = "\n".join(lines)
        # In place on a terminal every step is cheap; in a log, print only new standings.
        key = text if self.tty else "\n".join(lines[1:])
        if key == self._last:
            return
        self._last = key
        if self.tty and self._drawn:
            # Move up over the previous drawing and clear it (ANSI CSI sequences).
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
        self.out.write(text + "\n")
        self.out.flush()
        self._drawn = len(lines)


async def play(
    state_dir: Path,
    out: TextIO,
    *,
    players: int = 6,
    grid_size: int = 4,
    seed: int = 7,
    pace_s: float = 0.25,
) -> LiveResult:
    """Run the live demo on a local stack in this process.

    Args:
        state_dir: The stack's state dir (SQLite file, secrets, the board's token cache).
        out: Where the live board and the summary go.
        players: How many players join (at most 8).
        grid_size: 3, 4 or 5.
        seed: Seeds the speaker and the players, so runs are alike.
        pace_s: Pause between spoken words, so the board can be watched.
    """
    rng = random.Random(seed)
    options = StackOptions(state_dir=state_dir, http_port=0, ws_port=0)
    async with LocalStack(options) as stack:
        urls = stack.outputs
        out.write(f"local stack: {urls['httpUrl']} (HTTP), {urls['wsUrl']} (WebSocket)\n")
        async with BingoHttp(urls["httpUrl"], token=stack.admin_token()) as admin:
            result = await _game(stack, admin, out, rng, players, grid_size, pace_s)
        result.metering = stack.meter.snapshot()
    out.write(summary(result.metering) + "\n")
    return result


async def _game(
    stack: LocalStack,
    admin: BingoHttp,
    out: TextIO,
    rng: random.Random,
    players: int,
    grid_size: int,
    pace_s: float,
) -> LiveResult:
    urls = stack.outputs
    game = await admin.create_game(name="Main Hall", grid_size=grid_size)
    gid = game["gameId"]
    cache = TokenCache(Path(stack.options.state_dir) / "client-cache")
    board = BingoClient.board(urls["httpUrl"], urls["wsUrl"], games=[gid], cache=cache)
    board.start()
    await board.wait_connected(timeout=10)
    out.write(f"game {gid}: a public board is watching\n")

    anonymous = admin.with_token(None)
    clients, https, cards = [], [], []
    for name in NICKNAMES[:players]:
        joined = await anonymous.join(name, gid)
        http = admin.with_token(joined["token"])
        client = BingoClient(urls["wsUrl"], joined["token"], games=[gid])
        client.start()
        clients.append(client)
        https.append(http)
        cards.append({w for w in (await http.card(gid))["cells"] if w})
    await asyncio.gather(*(c.wait_connected(timeout=10) for c in clients))
    out.write(f"{players} players joined over HTTP and connected over WebSocket\n")
    await admin.change_state(gid, "playing", "the keynote starts")

    view = BoardView(out)
    spoken = list(game["words"])
    rng.shuffle(spoken)
    winner, said, marks = None, 0, 0
    has_line = [False] * len(https)
    for word in spoken:
        said += 1
        for i, http in enumerate(https):
            # Not everybody hears every word.
            if word in cards[i] and rng.random() < 0.85:
                reply = await http.mark(gid, word)
                marks += 1
                has_line[i] = bool(reply["completeLines"])
                if has_line[i] and winner is None:
                    winner = i
        await asyncio.sleep(pace_s)
        view.draw(board, f"speaker said {said}: {word!r}")
        if winner is not None:
            break
    if winner is None:
        raise RuntimeError("nobody completed a line; the word list ran out")
    nickname = NICKNAMES[winner]
    early = next((i for i, done in enumerate(has_line) if not done), None)
    if early is not None:
        try:
            await https[early].claim_bingo(gid)
        except ApiError as refused:
            out.write(f"{NICKNAMES[early]} claims too early -> {refused.status} {refused.code}\n")
    claim = await https[winner].claim_bingo(gid)
    out.write(f"{nickname} claims bingo on cells {claim['line']}; the organiser checks...\n")
    await admin.change_state(gid, "ended", "verified by the host")

    def finished(state: Any) -> bool:
        view_ = state.game
        return view_ is not None and view_.winner is not None

    await board.wait_for(finished, timeout=10)
    view.draw(board, f"game over: {nickname} wins")
    server_board = (await admin.leaderboard(gid, limit=10))["leaderboard"]
    server_events = await admin.all_events(gid)
    board_game = board.state.game
    assert board_game is not None
    result = LiveResult(
        game_id=gid,
        winner=board_game.winner,
        final_state=board_game.game_state,
        words_said=said,
        marks=marks,
        board_leaderboard=list(board_game.leaderboard),
        server_leaderboard=server_board,
        board_events=len(board_game.events),
        server_events=len(server_events),
    )
    await asyncio.gather(board.close(), *(c.close() for c in clients))
    await _disconnects_done(stack, expected=len(clients) + 1)
    same = [(r["nickname"], r["points"]) for r in result.board_leaderboard] == [
        (r["nickname"], r["points"]) for r in server_board
    ]
    out.write(
        f"{said} words said, {marks} marks; the board's leaderboard "
        f"{'matches' if same else 'DIFFERS FROM'} the server's\n"
    )
    return result


async def _disconnects_done(stack: LocalStack, expected: int, timeout: float = 10) -> None:
    # Clients have closed; wait until API Gateway's $disconnect ran for each, so the metering
    # summary counts them (an invocation is counted when it ends).
    async with asyncio.timeout(timeout):
        while True:
            functions = stack.meter.snapshot()["lambda"]["functions"]
            if functions.get("ws_disconnect", {}).get("invocations", 0) >= expected:
                return
            await asyncio.sleep(0.02)
