"""Cold start of each Lambda handler: import (and wiring) time in a fresh interpreter; prints JSON.

A Lambda cold start pays for the interpreter, then the handler module's imports, then (on the
first invocation) building the adapters. By default (`--layout bundle`) the children see what a
Lambda function sees: the bundle `bingo-ops bundle` builds, extracted (no bytecode: /var/task is
read-only, so every cold start compiles it), plus the libraries the Lambda Python runtime
provides (boto3, botocore, s3transfer, jmespath, dateutil, urllib3, six), and no
site-packages, so nothing else installed here (e.g. `cryptography`, which PyJWT imports when
present) is found. `--bytecode` compiles the extracted bundle first, as a bundle shipping
bytecode for the runtime's Python version would be. `--layout checkout` imports this checkout
with this virtualenv instead.

For each handler this runs, in fresh interpreters:
- `import`: `import backend.handlers.X` alone;
- `sqlite`: the import, then `backend.wiring.build(env)` with the SQLite store and the in-process
  gateway (the local stack's configuration);
- `dynamodb`: the import, then `build(env)` with `BINGO_STORE=dynamodb BINGO_TABLE=x` (the
  gateway stays in-process, so only the store's cost shows). `AWS_ENDPOINT_URL` points at a
  closed local port with one attempt, so a build that calls AWS fails at once and says so.
and, in the same run and the same way, a bare `python -c pass`. Runs are interleaved (bare,
case 1, case 2, ..., bare, case 1, ...) so background load hits every case alike.

Two measurements per run: the process's wall time from this process (perf_counter around
`subprocess.run`, the interpreter's start and exit included), and inside the child
perf_counter around the import and the build. `overBareMs` is the wall-time median minus the
bare interpreter's. Each case also records whether boto3 got imported: only a configuration
that needs AWS (the DynamoDB store) may import it.

Target: handlers on the SQLite wiring at most 40 ms over bare Python, and no boto3 on them.

Usage: python bench/coldstart.py [--runs 15] [--layout bundle|checkout] [--bytecode]
Only JSON goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# What the Lambda Python runtime provides besides the standard library
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
HANDLERS = ("ws_authorizer", "ws_connect", "ws_disconnect", "ws_message", "http_api")
TARGET_OVER_BARE_MS = 40.0
# Secrets of the right shape; nothing is signed with them.
KEYRINGS = {
    "BINGO_USER_TOKEN_KEYS": "b1:" + "u" * 40,
    "BINGO_PUBLIC_TOKEN_KEYS": "b1:" + "p" * 40,
    "BINGO_ADMIN_TOKEN_KEYS": "b1:" + "a" * 40,
}
# Runs in the child. argv: module to import ("" for none), whether to build the wiring, then
# folders to put first on sys.path (the bundle and the runtime's libraries).
PROBE = """\
import time
_t0 = time.perf_counter()
import sys
sys.path[:0] = sys.argv[3:]
if sys.argv[1]:
    __import__(sys.argv[1])
_t1 = time.perf_counter()
_error = None
if sys.argv[2] == "build":
    import os
    from backend import wiring
    try:
        wiring.build(os.environ)
    except Exception as error:
        _error = f"{type(error).__name__}: {error}"
_t2 = time.perf_counter()
import json
print(json.dumps({
    "importMs": (_t1 - _t0) * 1000,
    "buildMs": (_t2 - _t1) * 1000,
    "boto3": "boto3" in sys.modules,
    "botocore": "botocore" in sys.modules,
    "modules": len(sys.modules),
    "error": _error,
}))
"""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def base_environment(layout: str) -> dict[str, str]:
    """This environment without anything that configures the backend, Python or AWS."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BINGO_", "PYTHON", "AWS_"))
    }
    if layout == "checkout":
        env["PYTHONPATH"] = str(ROOT)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no run may leave bytecode for the next one
    return env


def case_environments(directory: Path, layout: str) -> dict[str, dict[str, str]]:
    base = base_environment(layout)
    sqlite = {
        **base,
        **KEYRINGS,
        "BINGO_STORE": "sqlite",
        "BINGO_SQLITE_PATH": str(directory / "cold.sqlite3"),
        "BINGO_GATEWAY": "memory",
    }
    dynamodb = {
        **base,
        **KEYRINGS,
        "BINGO_STORE": "dynamodb",
        "BINGO_TABLE": "x",
        "BINGO_GATEWAY": "memory",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "coldstart",
        "AWS_SECRET_ACCESS_KEY": "coldstart",
        # A closed port and one attempt: a build that calls AWS fails fast and visibly.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
    }
    return {"import": base, "sqlite": sqlite, "dynamodb": dynamodb}


def lambda_layout(directory: Path, bytecode: bool) -> list[str]:
    """Extract the bundle into `task/` and link the runtime's libraries into `runtime/`."""
    from bingo_ops.deploy.bundle import build_bundle

    task, runtime = directory / "task", directory / "runtime"
    with zipfile.ZipFile(io.BytesIO(build_bundle())) as bundle:
        bundle.extractall(task)
    if bytecode:
        compileall.compile_dir(task, quiet=1)
    runtime.mkdir()
    for name in RUNTIME_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed; the runtime provides it")
        origin = Path(spec.origin)
        source = origin.parent if spec.submodule_search_locations else origin
        (runtime / source.name).symlink_to(source)
    return [str(task), str(runtime)]


def run_once(command: Sequence[str], env: Mapping[str, str], cwd: Path) -> tuple[float, Any]:
    """Run a child; its wall time in ms and the JSON it printed (None for none)."""
    start = time.perf_counter()
    done = subprocess.run(
        list(command), env=dict(env), cwd=cwd, capture_output=True, text=True, check=False
    )
    wall_ms = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{command[-3:]} failed: {done.stderr.strip()[-500:]}")
    text = done.stdout.strip()
    return wall_ms, (json.loads(text.splitlines()[-1]) if text else None)


def median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 2)


def measure(runs: int, layout: str, bytecode: bool) -> dict[str, Any]:
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bingo-coldstart-") as folder:
        directory = Path(folder)
        envs = case_environments(directory, layout)
        if layout == "bundle":
            # -I: no PYTHON* variables, no user site, no script dir; -S: no site-packages.
            flags, paths = ["-I", "-S"], lambda_layout(directory, bytecode)
        else:
            flags, paths = [], []
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "bare": ([python, *flags, "-c", "pass"], envs["import"])
        }
        for handler in HANDLERS:
            module = f"backend.handlers.{handler}"
            probe = [python, *flags, "-c", PROBE, module]
            cases[f"{handler}/import"] = ([*probe, "-", *paths], envs["import"])
            for wiring in ("sqlite", "dynamodb"):
                cases[f"{handler}/{wiring}"] = ([*probe, "build", *paths], envs[wiring])
        walls: dict[str, list[float]] = {name: [] for name in cases}
        probes: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
        for run in range(runs):
            progress(f"run {run + 1}/{runs}")
            for name, (command, env) in cases.items():
                if name.endswith("/sqlite"):
                    # A cold container starts with an empty /tmp: a new database every time.
                    env = {**env, "BINGO_SQLITE_PATH": str(directory / f"{run}-{name[:-7]}.db")}
                wall_ms, probe_result = run_once(command, env, directory)
                walls[name].append(wall_ms)
                if probe_result is not None:
                    probes[name].append(probe_result)
    result = summarise(runs, walls, probes)
    result["layout"] = layout
    result["bytecode"] = bytecode if layout == "bundle" else "as installed"
    return result


def summarise(
    runs: int, walls: Mapping[str, list[float]], probes: Mapping[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    bare = median(walls["bare"])
    handlers: dict[str, dict[str, Any]] = {}
    for name, samples in walls.items():
        if name == "bare":
            continue
        handler, case = name.split("/")
        inside = probes[name]
        errors = sorted({p["error"] for p in inside if p["error"]})
        entry: dict[str, Any] = {
            "wallMs": median(samples),
            "overBareMs": round(median(samples) - bare, 2),
            "importMs": median([p["importMs"] for p in inside]),
            "boto3": any(p["boto3"] for p in inside),
            "botocore": any(p["botocore"] for p in inside),
            "modules": max(p["modules"] for p in inside),
        }
        if case != "import":
            entry["buildMs"] = median([p["buildMs"] for p in inside])
            entry["buildError"] = errors[0] if errors else None
        handlers.setdefault(handler, {})[case] = entry
    sqlite = {h: cases["sqlite"] for h, cases in handlers.items()}
    worst = max(entry["overBareMs"] for entry in sqlite.values())
    boto3_unneeded = [
        f"{h}/{case}"
        for h, cases in handlers.items()
        for case in ("import", "sqlite")
        if cases[case]["boto3"] or cases[case]["botocore"]
    ]
    return {
        "benchmark": "coldstart",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "system": platform.system(),
        "runs": runs,
        "bare": {"wallMs": bare, "minWallMs": round(min(walls["bare"]), 2)},
        "handlers": handlers,
        "target": {
            "maxOverBareMs": TARGET_OVER_BARE_MS,
            "worstSqliteOverBareMs": worst,
            "sqliteWithinTarget": worst <= TARGET_OVER_BARE_MS,
            "boto3WhereNotNeeded": boto3_unneeded,
        },
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per case (median taken)")
    parser.add_argument(
        "--layout",
        choices=("bundle", "checkout"),
        default="bundle",
        help="bundle: the Lambda zip + the runtime's libraries, no site-packages (default); "
        "checkout: this checkout in this virtualenv",
    )
    parser.add_argument(
        "--bytecode",
        action="store_true",
        help="compile the extracted bundle first (the bundle itself ships no bytecode)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    result = measure(args.runs, args.layout, args.bytecode)
    result["elapsedS"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
