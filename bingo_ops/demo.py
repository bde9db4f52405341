"""`bingo-ops demo`: a scripted game through the real handlers, in-process, on a SQLite file."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from backend import wiring
from backend.adapters.gateway_memory import InMemoryGateway
from backend.adapters.store_sqlite import SqliteStore
from backend.services.context import Deps
from bingo_ops.emulator.runtime import InProcessApi
from bingo_ops.state import StateDir

PLAYERS = ("alice", "bob", "carol", "dave")


@dataclass
class DemoResult:
    """What the scripted game produced, for printing and for tests."""

    game_id: str
    winner: str | None
    final_state: str
    leaderboard: list[dict[str, Any]]
    events: list[dict[str, Any]]
    board_messages: Counter[str] = field(default_factory=Counter)
    invocations: dict[str, int] = field(default_factory=dict)
    refused_claim: dict[str, Any] = field(default_factory=dict)


def _expect(reply: Any, status: int, what: str) -> Any:
    if reply.status != status:
        raise RuntimeError(f"{what}: expected HTTP {status}, got {reply.status}: {reply.body}")
    return reply.json()


def play(state_dir: Path, *, seed: int = 7, say: Callable[[str], None] = print) -> DemoResult:
    """Play one scripted game: create, join, mark, a refused and a real claim, verification.

    Args:
        state_dir: Where the SQLite file and the secrets live; the demo's database is new.
        seed: Seeds card drawing and the players' choices, so runs are repeatable.
        say: Where progress lines go.
    """
    state = StateDir(state_dir)
    env = state.environment()
    database = state_dir / "demo.sqlite3"
    for stale in state_dir.glob("demo.sqlite3*"):
        stale.unlink()
    gateway = InMemoryGateway()
    rng = random.Random(seed)
    deps = Deps(
        store=SqliteStore(database),
        gateway=gateway,
        tokens=wiring.build_tokens(env),
        clock=time.time,
        randbelow=rng.randrange,
        new_id=wiring.new_id,
    )
    wiring.install(deps)
    try:
        return _script(InProcessApi(), deps, gateway, rng, say)
    finally:
        wiring.install(None)


def _script(
    api: InProcessApi,
    deps: Deps,
    gateway: InMemoryGateway,
    rng: random.Random,
    say: Callable[[str], None],
) -> DemoResult:
    admin = deps.tokens.issue_admin("demo-organiser", now=deps.clock())
    game = _expect(
        api.http("POST", "/admin/games", {"name": "Main Hall", "gridSize": 3}, admin),
        201,
        "create game",
    )
    gid = game["gameId"]
    say(f"created game {gid} ({game['gridSize']}x{game['gridSize']}, {len(game['words'])} words)")

    board = _expect(api.http("POST", "/public/token", {"deviceId": "hall-screen"}), 201, "token")
    gateway.open("board-1")
    if api.connect("board-1", board["publicToken"]) != 101:
        raise RuntimeError("the public board could not connect")
    api.send("board-1", f'{{"action":"subscribe","gameId":"{gid}"}}')
    say("public board connected and subscribed")

    tokens, cards = {}, {}
    for name in PLAYERS:
        joined = _expect(api.http("POST", "/join", {"nickname": name}), 201, f"join {name}")
        tokens[name] = joined["token"]
        cards[name] = _expect(
            api.http("GET", f"/games/{gid}/card", token=joined["token"]), 200, "card"
        )
    say(f"{len(PLAYERS)} players joined: {', '.join(PLAYERS)}")
    _expect(
        api.http(
            "POST",
            f"/admin/games/{gid}/state",
            {"state": "playing", "reason": "keynote starts"},
            admin,
        ),
        200,
        "start",
    )
    say("game started")

    # Alice works through her top row; the others mark random words from their cards.
    alice_row = [w for w in cards["alice"]["cells"][:3] if w is not None]
    for turn in range(len(alice_row)):
        for name in PLAYERS:
            if name == "alice":
                word = alice_row[turn]
            else:
                word = rng.choice([w for w in cards[name]["cells"] if w is not None])
            marked = _expect(
                api.http("POST", f"/games/{gid}/marks", {"word": word}, tokens[name]), 200, "mark"
            )
            say(f"  {name:<6} marks {word!r:<26} -> {marked['points']:>3} points")
    refused = api.http("POST", f"/games/{gid}/bingo", token=tokens["bob"])
    say(f"bob claims bingo too early -> HTTP {refused.status} {refused.json()['error']['code']}")
    claim = _expect(api.http("POST", f"/games/{gid}/bingo", token=tokens["alice"]), 201, "claim")
    say(f"alice claims bingo on cells {claim['line']} -> game is {claim['state']}")
    _expect(
        api.http(
            "POST",
            f"/admin/games/{gid}/state",
            {"state": "ended", "reason": "verified by the host"},
            admin,
        ),
        200,
        "verify",
    )
    final = _expect(api.http("GET", f"/games/{gid}", token=board["publicToken"]), 200, "game")
    say(f"organiser verified the claim: game {final['state']}, winner {final['winner']}")

    leaderboard = _expect(
        api.http("GET", f"/games/{gid}/leaderboard", token=board["publicToken"]), 200, "board"
    )["leaderboard"]
    log = _expect(
        api.http("GET", f"/games/{gid}/events", token=board["publicToken"], query="limit=500"),
        200,
        "events",
    )["events"]
    received = Counter(m["type"] for m in gateway.drain("board-1"))
    api.disconnect("board-1", 1000, "demo over")
    return DemoResult(
        game_id=gid,
        winner=final["winner"],
        final_state=final["state"],
        leaderboard=leaderboard,
        events=log,
        board_messages=received,
        invocations=dict(api.invocations),
        refused_claim=refused.json(),
    )


def render(result: DemoResult, out: TextIO) -> None:
    """Print the final leaderboard, the event log and what the board received."""
    out.write(f"\nFinal leaderboard of game {result.game_id} ({result.final_state}, ")
    out.write(f"winner: {result.winner})\n")
    out.write(f"  {'rank':>4}  {'nickname':<10} {'points':>6} {'marks':>5}\n")
    for row in result.leaderboard:
        out.write(
            f"  {row['rank']:>4}  {row['nickname']:<10} {row['points']:>6} {row['marks']:>5}\n"
        )
    out.write(f"\nEvent log ({len(result.events)} events, seq 1..{result.events[-1]['seq']}):\n")
    for event in result.events:
        data = ", ".join(f"{k}={v}" for k, v in event["data"].items())
        out.write(f"  {event['seq']:>3}  {event['type']:<14} {data}\n")
    out.write("\nThe public board received: ")
    out.write(", ".join(f"{n} {t}" for t, n in sorted(result.board_messages.items())) + "\n")
    out.write("Handler invocations: ")
    out.write(", ".join(f"{k} {v}" for k, v in sorted(result.invocations.items())) + "\n")
