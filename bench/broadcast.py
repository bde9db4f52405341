"""Broadcast latency of the local stack against a raw websockets broadcast; prints JSON.

For each subscriber count N, in one run:
- stack: N public boards subscribe to one game of a `bingo-ops serve` process; a player's
  mark goes in over HTTP; the latency is the time from sending the mark request to the last
  board's receipt of the leaderboard update it caused (the activity event comes first).
- raw: N clients of a bare websockets server in its own process; a controller asks it to
  broadcast the same two messages (same bytes as the stack sent); the latency is the time from
  sending that request to the last client's receipt of the second message.
Both servers run in their own processes and the clients in this one; both client sets stay
open and the samples alternate (stack, raw, stack, ...) so background load hits both alike.
Server memory per connection is the marginal growth of the server's RSS: half of the
connections open first (paying one-off costs), then the growth over the rest, per connection.

Usage: python bench/broadcast.py [--subscribers 100,1000] [--marks 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, broadcast, serve

from bingo_ops.measure.stats import percentile

ROOT = Path(__file__).resolve().parents[1]
LEADERBOARD = "leaderboard_update"
CONNECT_CONCURRENCY = 64


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only the JSON."""
    print(message, file=sys.stderr, flush=True)


def raise_fd_limit() -> None:
    """Thousands of sockets need more than the usual 1,024 descriptors (children inherit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log(f"file descriptors: {soft} -> {hard}")


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def summary(latencies_s: list[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds."""
    ms = [x * 1000 for x in latencies_s]
    return {
        "p50Ms": round(percentile(ms, 50), 3),
        "p99Ms": round(percentile(ms, 99), 3),
        "maxMs": round(max(ms), 3),
        "meanMs": round(statistics.fmean(ms), 3),
        "samples": len(ms),
    }


async def wait_for_file(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> Any:
    """Wait until a child process wrote its JSON file."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        await asyncio.sleep(0.05)
    return json.loads(path.read_text())


class Receipts:
    """When each client received the message tagged with a given seq."""

    def __init__(self) -> None:
        self.count: dict[int, int] = defaultdict(int)
        self.last: dict[int, float] = {}
        self.changed = asyncio.Event()

    def record(self, seq: int) -> None:
        """Note one receipt of `seq`, now."""
        now = time.perf_counter()
        self.count[seq] += 1
        self.last[seq] = max(self.last.get(seq, 0.0), now)
        self.changed.set()

    async def wait_all(self, seq: int, n: int, timeout: float = 60) -> float:
        """Wait until n clients received `seq`; returns the time of the last receipt."""
        async with asyncio.timeout(timeout):
            while self.count[seq] < n:
                self.changed.clear()
                await self.changed.wait()
        return self.last[seq]


async def open_clients(
    n: int, url: str, on_open: Callable[[ClientConnection], Awaitable[None]]
) -> list[ClientConnection]:
    """Open n connections, at most CONNECT_CONCURRENCY at a time."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> ClientConnection:
        async with gate:
            ws = await connect(url, compression=None, max_size=None, open_timeout=60)
            await on_open(ws)
            return ws

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def reader(ws: ClientConnection, receipts: Receipts, wanted: str) -> None:
    """Record every message of type `wanted` by its seq."""
    try:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == wanted:
                receipts.record(int(message["seq"]))
    except websockets.ConnectionClosed:
        return


# -- the two servers --------------------------------------------------------------------------
def start_stack(state_dir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """`bingo-ops serve` on free ports, in its own process."""
    outputs_file = state_dir / "outputs.json"
    command = [sys.executable, "-m", "bingo_ops.cli", "serve", "--http-port", "0"]
    command += ["--ws-port", "0", "--state-dir", str(state_dir), "--outputs", str(outputs_file)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=ROOT), outputs_file


async def raw_server_main(port_file: Path) -> None:
    """A bare websockets server: a `{"broadcast": [...]}` message is sent to every other client."""
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            async for raw in ws:
                request = json.loads(raw)
                others = [c for c in clients if c is not ws]
                for message in request["broadcast"]:
                    broadcast(others, message)
        finally:
            clients.discard(ws)

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        port_file.write_text(json.dumps({"port": port}))
        await asyncio.Event().wait()


async def open_measured(
    n: int, url: str, pid: int, on_open: Callable[[ClientConnection], Awaitable[None]]
) -> tuple[list[ClientConnection], float]:
    """Open n connections; returns them and the server's marginal KiB per connection.

    Half of them open first, so one-off costs (handler threads and their SQLite caches, which
    grow with concurrency, allocator arenas) are paid before the measurement; the growth over
    the second half, per connection, is the marginal cost.
    """
    warm = max(1, n // 2)
    clients = await open_clients(warm, url, on_open)
    await asyncio.sleep(0.5)
    before = rss_kib(pid)
    clients += await open_clients(n - warm, url, on_open)
    await asyncio.sleep(0.5)
    return clients, (rss_kib(pid) - before) / (n - warm)


async def run_pair(n: int, marks: int, workdir: Path, payloads: list[str]) -> dict[str, Any]:
    """Both paths with n subscribers each, samples interleaved so load hits both alike."""
    from bingo_ops.tokens import mint

    state_dir = workdir / f"stack-{n}"
    stack_proc, outputs_file = start_stack(state_dir)
    port_file = workdir / f"raw-{n}.json"
    raw_proc = subprocess.Popen([sys.executable, __file__, "--raw-server", str(port_file)])
    readers: list[asyncio.Task[None]] = []
    clients: list[ClientConnection] = []
    try:
        outputs = await wait_for_file(outputs_file, stack_proc)
        raw_url = f"ws://127.0.0.1:{(await wait_for_file(port_file, raw_proc))['port']}"
        admin = {"authorization": f"Bearer {mint(state_dir, 'admin')}"}
        async with httpx.AsyncClient(base_url=outputs["httpUrl"], timeout=60) as http:
            game = (await http.post("/admin/games", json={"gridSize": 5}, headers=admin)).json()
            gid = game["gameId"]
            await http.post(f"/admin/games/{gid}/state", json={"state": "playing"}, headers=admin)
            words: list[tuple[str, str]] = []
            for i in range(math.ceil(marks / 24) + 1):
                player = (await http.post("/join", json={"nickname": f"p{i}"})).json()
                auth = f"Bearer {player['token']}"
                card = (
                    await http.get(f"/games/{gid}/card", headers={"authorization": auth})
                ).json()
                words += [(auth, w) for w in card["cells"] if w is not None]
            public = (await http.post("/public/token", json={})).json()["publicToken"]
            reader_auth = {"authorization": f"Bearer {public}"}
            current = (await http.get(f"/games/{gid}", headers=reader_auth)).json()["seq"]

            stack_receipts, raw_receipts = Receipts(), Receipts()

            async def subscribe(ws: ClientConnection) -> None:
                await ws.send(json.dumps({"action": "subscribe", "gameId": gid}))
                readers.append(asyncio.create_task(reader(ws, stack_receipts, LEADERBOARD)))

            async def listen(ws: ClientConnection) -> None:
                readers.append(asyncio.create_task(reader(ws, raw_receipts, LEADERBOARD)))

            log(f"opening {n} subscribed stack connections")
            stack_clients, stack_kib = await open_measured(
                n, f"{outputs['wsUrl']}?token={public}", stack_proc.pid, subscribe
            )
            clients += stack_clients
            await stack_receipts.wait_all(current, n)  # the leaderboard each got on subscribing
            log(f"opening {n} raw connections")
            raw_clients, raw_kib = await open_measured(n, raw_url, raw_proc.pid, listen)
            clients += raw_clients

            first, second = (json.loads(p) for p in payloads)
            stack_latencies, raw_latencies = [], []
            async with connect(raw_url, compression=None) as controller:
                for i, (auth, word) in enumerate(words[:marks]):
                    started = time.perf_counter()
                    reply = await http.post(
                        f"/games/{gid}/marks", json={"word": word}, headers={"authorization": auth}
                    )
                    seq = reply.json()["seq"]
                    stack_latencies.append(await stack_receipts.wait_all(seq, n) - started)

                    first["seq"] = second["seq"] = seq = 1_000_000 + i
                    request = json.dumps({"broadcast": [json.dumps(first), json.dumps(second)]})
                    started = time.perf_counter()
                    await controller.send(request)
                    raw_latencies.append(await raw_receipts.wait_all(seq, n) - started)
    finally:
        for ws in clients:
            await ws.close()
        for task in readers:
            task.cancel()
        for proc in (stack_proc, raw_proc):
            proc.terminate()
            proc.wait(timeout=30)
    stack, raw = summary(stack_latencies), summary(raw_latencies)
    return {
        "subscribers": n,
        "stack": {"latency": stack, "memoryKiBPerConnection": round(stack_kib, 2)},
        "raw": {"latency": raw, "memoryKiBPerConnection": round(raw_kib, 2)},
        "ratioP50": round(stack["p50Ms"] / raw["p50Ms"], 3),
        "ratioP99": round(stack["p99Ms"] / raw["p99Ms"], 3),
    }


async def sample_payloads(workdir: Path) -> list[str]:
    """The two messages one mark sends a board (activity event, leaderboard), as raw text."""
    state_dir = workdir / "sample"
    proc, outputs_file = start_stack(state_dir)
    try:
        outputs = await wait_for_file(outputs_file, proc)
        from bingo_ops.tokens import mint

        admin = {"authorization": f"Bearer {mint(state_dir, 'admin')}"}
        async with httpx.AsyncClient(base_url=outputs["httpUrl"], timeout=60) as http:
            game = (await http.post("/admin/games", json={"gridSize": 5}, headers=admin)).json()
            gid = game["gameId"]
            await http.post(f"/admin/games/{gid}/state", json={"state": "playing"}, headers=admin)
            names = [f"player{i:02d}" for i in range(10)]
            players = [(await http.post("/join", json={"nickname": x})).json() for x in names]
            public = (await http.post("/public/token", json={})).json()["publicToken"]
            async with connect(f"{outputs['wsUrl']}?token={public}") as ws:
                await ws.send(json.dumps({"action": "subscribe", "gameId": gid}))
                await ws.recv()
                await ws.recv()
                auth = {"authorization": f"Bearer {players[0]['token']}"}
                card = (await http.get(f"/games/{gid}/card", headers=auth)).json()
                word = next(w for w in card["cells"] if w)
                await http.post(f"/games/{gid}/marks", json={"word": word}, headers=auth)
                return [str(await ws.recv()), str(await ws.recv())]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def main(counts: list[int], marks: int) -> dict[str, Any]:
    """Run every subscriber count through both paths."""
    raise_fd_limit()
    results: dict[str, Any] = {
        "benchmark": "broadcast",
        "command": "python bench/broadcast.py " + " ".join(sys.argv[1:]),
        "python": platform.python_version(),
        "websockets": websockets.__version__,
        "cpus": os.cpu_count(),
        "marksPerRun": marks,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        payloads = await sample_payloads(workdir)
        results["payloadBytes"] = [len(p.encode()) for p in payloads]
        for n in counts:
            results["runs"].append(await run_pair(n, marks, workdir, payloads))
            log(json.dumps(results["runs"][-1]))
    return results


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--subscribers", default="100,1000", help="comma-separated counts")
    cli.add_argument("--marks", type=int, default=30, help="marks (samples) per run")
    cli.add_argument("--raw-server", type=Path, help=argparse.SUPPRESS)
    args = cli.parse_args()
    if args.raw_server is not None:
        asyncio.run(raw_server_main(args.raw_server))
    else:
        counts = [int(x) for x in args.subscribers.split(",")]
        print(json.dumps(asyncio.run(main(counts, args.marks)), indent=2))
