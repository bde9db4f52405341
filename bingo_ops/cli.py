"""`bingo-ops`: each subcommand parses its arguments and calls one library function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bingo_ops.deploy.fanout import (
    DEFAULT_BOARD_WINDOW_S,
    DEFAULT_FANOUT,
    DEFAULT_PLAYER_WINDOW_S,
)

if TYPE_CHECKING:
    from bingo_ops.deploy.aws import AwsConfig
    from bingo_ops.replay.replayer import ReplaySummary

# Heavy imports happen inside each command, so `bingo-ops --help` stays instant.


def _demo(args: argparse.Namespace) -> int:
    if args.in_process:
        from bingo_ops import demo

        result = demo.play(Path(args.state_dir), seed=args.seed)
        demo.render(result, sys.stdout)
        return 0
    import asyncio

    from bingo_ops import demo_live

    asyncio.run(
        demo_live.play(
            Path(args.state_dir),
            sys.stdout,
            players=args.players,
            seed=args.seed,
            pace_s=args.pace,
        )
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from bingo_ops.emulator import run

    options = run.options_from(
        state_dir=Path(args.state_dir),
        host=args.host,
        http_port=args.http_port,
        ws_port=args.ws_port,
        management_api=args.management_api,
        idle_timeout_s=args.idle_timeout,
        hard_timeout_s=args.hard_timeout,
        outputs=Path(args.outputs) if args.outputs else None,
        fanout=args.fanout,
        board_window_s=args.board_window,
        player_window_s=args.player_window,
        post_jobs=args.post_jobs,
    )
    try:
        run.serve_until_signalled(options, sys.stdout)
    except OSError as exc:  # a taken port, an unwritable state dir: the operator's to fix
        print(f"bingo-ops serve: {exc}", file=sys.stderr)
        return 1
    return 0


def _token(args: argparse.Namespace) -> int:
    from bingo_ops import tokens

    print(tokens.mint(Path(args.state_dir), args.kind, subject=args.subject))
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from bingo_ops.deploy.bundle import BundleError, write_bundle

    try:
        info = write_bundle(Path(args.output))
    except (BundleError, OSError) as exc:
        print(f"bingo-ops bundle: {exc}", file=sys.stderr)
        return 1
    print(f"{info.path}: {info.size:,} bytes, {len(info.files)} files, sha256 {info.sha256}")
    return 0


def _print_json(data: object) -> None:
    import json

    print(json.dumps(data, indent=2, sort_keys=True))


def _aws_config(args: argparse.Namespace) -> AwsConfig | None:
    """The AWS stage the options describe, or None after saying what is missing or wrong."""
    from bingo_ops.deploy import targets

    if not args.stage or not args.region:
        print(f"bingo-ops {args.command}: --target aws needs --stage and --region", file=sys.stderr)
        return None
    try:
        return targets.aws_config(
            args.stage,
            args.region,
            prefix=args.prefix,
            domain=args.domain,
            certificate_arn=args.certificate_arn,
            # Only deploy has these; teardown finds functions by name whatever their size.
            memory_mb=getattr(args, "memory_mb", 256),
            timeout_s=getattr(args, "timeout_s", 10),
            fanout=getattr(args, "fanout", DEFAULT_FANOUT),
            board_window_s=getattr(args, "board_window", DEFAULT_BOARD_WINDOW_S),
            player_window_s=getattr(args, "player_window", DEFAULT_PLAYER_WINDOW_S),
        )
    except ValueError as exc:
        print(f"bingo-ops {args.command}: {exc}", file=sys.stderr)
        return None


def _aws_failures() -> tuple[type[Exception], ...]:
    """What an AWS deploy or teardown raises for the operator to fix (not a bug of ours)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from bingo_ops.deploy.bundle import BundleError
    from bingo_ops.deploy.execute import DeployError
    from bingo_ops.deploy.plan import DriftError

    # LookupError: two APIs carry the stage's name (KeyError and IndexError are re-raised).
    return (BotoCoreError, ClientError, BundleError, DeployError, DriftError, LookupError)


def _operator_error(command: str, exc: Exception) -> int:
    """Say what went wrong in one line (exit 1); a bug's KeyError or IndexError propagates."""
    if isinstance(exc, KeyError | IndexError):
        raise exc
    print(f"bingo-ops {command}: {exc}", file=sys.stderr)
    return 1


def _deploy_local(args: argparse.Namespace) -> int:
    from bingo_ops.deploy import targets
    from bingo_ops.deploy.local import LocalOptions, LocalStackError

    options = LocalOptions(
        state_dir=Path(args.state_dir),
        host=args.host,
        http_port=args.http_port,
        ws_port=args.ws_port,
        outputs=Path(args.outputs) if args.outputs else None,
        fanout=args.fanout,
        board_window_s=args.board_window,
        player_window_s=args.player_window,
        post_jobs=args.post_jobs,
    )
    try:
        report = targets.deploy_local_stack(options, dry_run=args.dry_run)
    except (LocalStackError, OSError) as exc:
        print(f"bingo-ops deploy: {exc}", file=sys.stderr)
        return 1
    if args.dry_run:
        print(report.table(), end="")
        print("Dry run: nothing was started and no outputs were written.")
        return 0
    pid, log = report.extra["pid"], report.extra["log"]
    if report.extra["started"]:
        print(f"Started the local stack (pid {pid}); its log: {log}")
    else:
        print(f"The local stack is already running (pid {pid}); not starting another.")
    if args.outputs:
        print(f"Outputs written to {args.outputs}")
    _print_json(report.outputs)
    return 0


def _deploy(args: argparse.Namespace) -> int:
    if args.target == "local":
        return _deploy_local(args)
    from bingo_ops.deploy import targets

    config = _aws_config(args)
    if config is None:
        return 2
    try:
        bundle = Path(args.bundle).read_bytes() if args.bundle else None
    except OSError as exc:
        print(f"bingo-ops deploy: {exc}", file=sys.stderr)
        return 1
    try:
        # A dry run's plan goes to stdout; a real run's progress lines go to stderr.
        report = targets.deploy_aws_stage(
            config,
            bundle=bundle,
            dry_run=args.dry_run,
            out=sys.stdout if args.dry_run else sys.stderr,
        )
    except _aws_failures() as exc:
        return _operator_error("deploy", exc)
    if args.dry_run:
        print("Dry run: nothing was changed and no outputs were written.")
        return 0
    print(report.table(), end="")
    if args.outputs:
        targets.write_json(Path(args.outputs), report.outputs or {})
        print(f"Outputs written to {args.outputs}")
    _print_json(report.outputs)
    return 0


def _teardown(args: argparse.Namespace) -> int:
    from bingo_ops.deploy import targets

    if args.target == "local":
        from bingo_ops.deploy.local import LocalStackError

        try:
            report = targets.teardown_local_stack(Path(args.state_dir), dry_run=args.dry_run)
        except LocalStackError as exc:
            print(f"bingo-ops teardown: {exc}", file=sys.stderr)
            return 1
        if not report.plan:
            print(f"No local stack is running for {args.state_dir}; nothing to stop.")
        elif args.dry_run:
            print(f"Dry run: would stop the local stack ({report.plan[0]['summary']}).")
        else:
            print(f"Stopped the local stack ({report.plan[0]['summary']}).")
            if report.log:
                print(report.log)
        return 0
    config = _aws_config(args)
    if config is None:
        return 2
    try:
        report = targets.teardown_aws_stage(
            config, dry_run=args.dry_run, out=sys.stdout if args.dry_run else sys.stderr
        )
    except _aws_failures() as exc:
        return _operator_error("teardown", exc)
    if args.dry_run:
        print("Dry run: nothing was deleted.")
    else:
        print(report.table(), end="")
    return 0


def _notebooks_run(args: argparse.Namespace) -> int:
    from bingo_ops.notebooks.suite import SuiteError, SuiteFailed, load_params, run_suite

    # --only takes names comma-separated, repeated, or both.
    only = [n for value in args.only for n in value.split(",") if n.strip()] if args.only else None
    try:
        params = load_params(args.params) if args.params else None
        report = run_suite(args.notebooks, args.output, params=params, only=only, stack=args.stack)
    except (SuiteError, OSError) as exc:
        print(f"bingo-ops notebooks run: {exc}", file=sys.stderr)
        return 1
    print(report.table(), end="")
    print(f"Report: {report.index}")
    try:
        report.raise_for_failures()
    except SuiteFailed as exc:
        print(f"bingo-ops notebooks run: {exc}", file=sys.stderr)
        return 1
    return 0


# ScenarioSpec fields the generator options set, by option destination.
_SPEC_OPTIONS = {
    "games": "games",
    "players": "players",
    "boards": "boards",
    "grid_size": "grid_size",
    "marks_per_minute": "marks_per_player_per_minute",
    "join_curve": "join_curve",
    "join_window": "join_window_s",
    "duration": "duration_s",
    "verify_delay": "verify_delay_s",
    "no_claims": "bingo_claims",
    "seed": "seed",
}


def _replay(args: argparse.Namespace) -> int:
    import asyncio

    import httpx

    from bingo_ops.deploy.local import LocalStackError
    from bingo_ops.deploy.stack import StackError, open_stack
    from bingo_ops.replay import scenario
    from bingo_ops.replay.replayer import replay

    given: dict[str, Any] = {
        field: (not value if option == "no_claims" else value)
        for option, field in _SPEC_OPTIONS.items()
        if (value := getattr(args, option)) is not None
    }
    if args.scenario and given:
        print(
            "bingo-ops replay: --scenario replays a file; drop the generator options",
            file=sys.stderr,
        )
        return 2
    try:
        if args.scenario:
            _, actions = scenario.read_scenario(args.scenario)
        else:
            spec = scenario.ScenarioSpec(**given)
            actions = scenario.generate(spec)
            if args.save_scenario:
                scenario.write_jsonl(actions, args.save_scenario, spec)
    except (scenario.ScenarioError, OSError) as exc:
        print(f"bingo-ops replay: {exc}", file=sys.stderr)
        return 1
    try:
        with open_stack(args.stack) as stack:
            summary = asyncio.run(
                replay(
                    actions,
                    stack.outputs,
                    admin_token=stack.admin_token("bingo-ops replay"),
                    speed=args.speed,
                    connect_players=not args.no_player_sockets,
                    progress=not args.quiet,
                )
            )
    except (StackError, LocalStackError, httpx.HTTPError, ValueError) as exc:
        print(f"bingo-ops replay: {exc}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(summary.as_dict())
    else:
        print(_replay_text(summary, len(actions), args.speed), end="")
    return 0


def _replay_text(summary: ReplaySummary, actions: int, speed: float) -> str:
    """The replay's summary for people (`--json` prints all of it)."""

    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "none"

    in_sync = sum(1 for ok in summary.boards_in_sync.values() if ok)
    games = ", ".join(f"{k} -> {v}" for k, v in sorted(summary.games.items()))
    return (
        f"Replayed {actions} actions in {summary.wall_time_s:.1f} s at speed x{speed:g} "
        f"(max lag {summary.max_lag_s:.2f} s)\n"
        f"games: {games or 'none'}\n"
        f"actions: {counts(summary.actions)}\n"
        f"marks: {summary.marks_sent} sent, {summary.marks_ok} new, "
        f"{summary.skipped_marks} skipped; claims: {summary.claims_sent} sent, "
        f"{summary.skipped_claims} skipped\n"
        f"mark latency: p50 {summary.mark_latency_p50_ms:.1f} ms, "
        f"p95 {summary.mark_latency_p95_ms:.1f} ms\n"
        f"API errors: {counts(summary.errors)}\n"
        f"boards in sync with the server: {in_sync} of {len(summary.boards_in_sync)}\n"
    )


def _bench_conference(args: argparse.Namespace) -> int:
    import httpx

    from bingo_ops.deploy.local import LocalStackError
    from bingo_ops.measure.conference import ConferenceSpec, run_conferences

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    try:
        spec = ConferenceSpec(
            players=args.players,
            games=args.games,
            boards=args.boards,
            marks_per_minute=args.marks_per_minute,
            duration_s=args.duration,
            board_window_s=args.board_window,
            player_window_s=args.player_window,
            post_jobs=args.post_jobs,
            poll_interval_s=args.poll_interval,
            seed=args.seed,
            sample_players=args.sample_players,
            wall_cap_s=args.wall_cap,
        )
        result = run_conferences(spec, configs, progress=not args.quiet)
    except ValueError as exc:
        print(f"bingo-ops bench conference: {exc}", file=sys.stderr)
        return 2
    except (LocalStackError, httpx.HTTPError) as exc:
        print(f"bingo-ops bench conference: {exc}", file=sys.stderr)
        return 1
    _print_json(result)
    return 0


def _add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser(
        "bench",
        help="run a benchmark on fresh local stacks and print its JSON",
        description="Benchmarks that start their own local stacks and print JSON.",
    )
    kinds = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")
    conference = kinds.add_parser(
        "conference",
        help="inline vs stream fan-out vs 3 s polling at conference scale: cost and staleness",
        description="Run the conference for real on a fresh local stack per configuration "
        "(inline: W = 0; stream: the per-audience windows; polling: every client polls the "
        "stream endpoint every T s): players join and mark at the given rate, every player and "
        "board follows its game. Prints JSON: per configuration the metered counts of the "
        "steady-state span, staleness p50/p99 per audience, $ per hour, the model's agreement "
        "with the metering, and a summary of stream against polling with the targets' "
        "verdicts. Progress bars go to stderr.",
    )
    conference.add_argument("--players", type=int, default=2000, help="(default: %(default)s)")
    conference.add_argument("--games", type=int, default=10, help="(default: %(default)s)")
    conference.add_argument("--boards", type=int, default=20, help="(default: %(default)s)")
    conference.add_argument(
        "--marks-per-minute", type=float, default=1.0, help="per player (default: %(default)s)"
    )
    conference.add_argument(
        "--duration", type=float, default=120.0, help="seconds of marking (default: %(default)s)"
    )
    conference.add_argument(
        "--configs",
        default="inline,stream,polling",
        help="comma-separated, run in this order (default: %(default)s)",
    )
    conference.add_argument(
        "--board-window",
        type=float,
        default=DEFAULT_BOARD_WINDOW_S,
        metavar="S",
        help="boards' window of the stream configuration (default: %(default)s)",
    )
    conference.add_argument(
        "--player-window",
        type=float,
        default=DEFAULT_PLAYER_WINDOW_S,
        metavar="S",
        help="players' window of the stream configuration (default: %(default)s)",
    )
    conference.add_argument(
        "--post-jobs",
        action="store_true",
        help="stream configuration: players' views posted by one post_players invocation per "
        "game, as on AWS (default: by the players' broadcaster itself)",
    )
    conference.add_argument(
        "--poll-interval",
        type=float,
        default=3.0,
        metavar="S",
        help="the polling configuration's interval (default: %(default)s)",
    )
    conference.add_argument("--seed", type=int, default=1, help="(default: %(default)s)")
    conference.add_argument(
        "--sample-players",
        type=int,
        default=200,
        help="players whose staleness is measured, seeded; 0: all (default: %(default)s)",
    )
    conference.add_argument(
        "--wall-cap",
        type=float,
        default=600.0,
        metavar="S",
        help="hard wall-clock cap per configuration (default: %(default)s)",
    )
    conference.add_argument("--quiet", action="store_true", help="no progress bars")
    conference.set_defaults(run=_bench_conference)


def _add_fanout_options(command: argparse.ArgumentParser) -> None:
    fanout = command.add_argument_group("fan-out (the same locally and on AWS)")
    fanout.add_argument(
        "--fanout",
        choices=("inline", "stream"),
        default=DEFAULT_FANOUT,
        help="inline: the invocation that writes an event posts it and the leaderboard to every "
        "subscriber at once (the original per-mark design, W = 0); stream: writers only write, "
        "and broadcaster functions fed by the table's change stream send per audience, at most "
        "once per window (default: %(default)s)",
    )
    fanout.add_argument(
        "--board-window",
        type=float,
        default=DEFAULT_BOARD_WINDOW_S,
        metavar="S",
        help="public boards' batching window in seconds with --fanout stream (AWS takes whole "
        "seconds and rounds down; 0 = as soon as the stream is read) (default: %(default)s)",
    )
    fanout.add_argument(
        "--player-window",
        type=float,
        default=DEFAULT_PLAYER_WINDOW_S,
        metavar="S",
        help="players' batching window in seconds with --fanout stream (default: %(default)s)",
    )
    fanout.add_argument(
        "--post-jobs",
        action="store_true",
        help="local stack with --fanout stream: the players' broadcaster hands each game's "
        "posting to an asynchronous post_players invocation, as deployed on AWS (off locally by "
        "default: one process gains nothing from spreading posts over threads)",
    )


def _add_aws_stage_options(command: argparse.ArgumentParser, *, functions: bool) -> None:
    aws = command.add_argument_group("--target aws")
    aws.add_argument("--stage", help="stage name, part of every resource name (e.g. dev, prod)")
    aws.add_argument("--region", help="AWS region (e.g. eu-west-1)")
    aws.add_argument("--prefix", default="bingo", help="first part of every resource name")
    aws.add_argument(
        "--domain",
        help="parent domain: the stage gets ws-STAGE.DOMAIN and api-STAGE.DOMAIN "
        "(needs --certificate-arn)",
    )
    aws.add_argument(
        "--certificate-arn", help="ACM certificate in --region covering both custom domains"
    )
    if functions:
        aws.add_argument("--memory-mb", type=int, default=256, help="Lambda memory (128-10240)")
        aws.add_argument("--timeout-s", type=int, default=10, help="Lambda timeout (1-900)")


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    top = argparse.ArgumentParser(
        prog="bingo-ops",
        description="Run, watch, replay, measure and deploy Buzzword Bingo.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="play a short game over real sockets on the local stack, watched by a board",
        description="Start the local stack, let players (real WebSocket + HTTP clients) play a "
        "short game while a public board shows the live leaderboard, then print what the stack "
        "metered. With --in-process, play a scripted game straight through the handlers "
        "instead (no sockets) and print the leaderboard and the event log.",
    )
    demo.add_argument("--state-dir", default=".bingo", help="where the database and secrets live")
    demo.add_argument("--seed", type=int, default=7, help="seed for cards and players' choices")
    demo.add_argument("--players", type=int, default=6, choices=range(2, 9), metavar="2..8")
    demo.add_argument("--pace", type=float, default=0.25, help="seconds between spoken words")
    demo.add_argument(
        "--in-process", action="store_true", help="drive the handlers directly, no sockets"
    )
    demo.set_defaults(run=_demo)

    serve = sub.add_parser(
        "serve",
        help="run the local stack: WebSocket API, HTTP API and @connections over SQLite",
        description="Run the real handlers behind a local API Gateway: the WebSocket API "
        "(authorizer, $connect, $disconnect, routes on `action`), the HTTP API, the "
        "@connections management API and GET /_local/metrics. Stops cleanly on Ctrl-C or "
        "SIGTERM and prints what was metered.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    serve.add_argument("--http-port", type=int, default=8000, help="HTTP port (0: any free)")
    serve.add_argument("--ws-port", type=int, default=8001, help="WebSocket port (0: any free)")
    serve.add_argument(
        "--state-dir",
        default=".bingo",
        help="SQLite file and token secrets (0600), created on first start, reused later",
    )
    serve.add_argument("--outputs", help="write httpUrl, wsUrl, managementUrl, metricsUrl here")
    serve.add_argument(
        "--management-api",
        choices=("inprocess", "http"),
        default="inprocess",
        help="how handlers reach sockets: in-process (fast) or backend's boto3 adapter over "
        "this stack's @connections endpoint (the AWS code path)",
    )
    serve.add_argument(
        "--idle-timeout", type=float, default=600.0, help="seconds (API Gateway: 600)"
    )
    serve.add_argument(
        "--hard-timeout", type=float, default=7200.0, help="seconds (API Gateway: 7200)"
    )
    _add_fanout_options(serve)
    serve.set_defaults(run=_serve)

    token = sub.add_parser(
        "token",
        help="print an admin or public token signed with the local stack's secrets",
        description="Print a token signed with the secrets in the state dir (created if absent).",
    )
    token.add_argument("kind", choices=("admin", "public"))
    token.add_argument("--state-dir", default=".bingo", help="where the secrets live")
    token.add_argument("--subject", default=None, help="admin name or device id")
    token.set_defaults(run=_token)

    bundle = sub.add_parser(
        "bundle",
        help="build the reproducible Lambda zip (backend + PyJWT) and print its size",
        description="Write the Lambda deployment package: the backend package and PyJWT (boto3 "
        "comes with the Lambda runtime), entries sorted, fixed timestamps and modes, no "
        "bytecode. The same sources give the same bytes, so its SHA-256 names the code.",
    )
    bundle.add_argument("--output", default="dist/lambda.zip", help="where the zip goes")
    bundle.set_defaults(run=_bundle)

    deploy = sub.add_parser(
        "deploy",
        help="start the local stack in the background, or deploy a stage to AWS",
        description="--target local (the default) starts `bingo-ops serve` in the background: "
        "its pid, log (stack.log) and outputs (outputs.json) live in the state dir; if it is "
        "already running, nothing new starts and its outputs are printed again. "
        "--target aws builds the Lambda bundle, observes the stage, plans and executes: "
        "DynamoDB table, SSM keyrings, IAM role, log groups, Lambda functions, the WebSocket "
        "and HTTP APIs (custom domains with --domain); it prints the plan as a table and the "
        "outputs (httpUrl, wsUrl, managementUrl, ...). --dry-run only prints the plan. "
        "boto3's usual configuration applies (credentials chain, AWS_ENDPOINT_URL).",
    )
    deploy.add_argument(
        "--target",
        choices=("local", "aws"),
        default="local",
        help="local: the local stack in the background (default); aws: a stage on AWS",
    )
    deploy.add_argument("--outputs", help="also write the outputs JSON here (never on a dry run)")
    deploy.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    local = deploy.add_argument_group("--target local")
    local.add_argument(
        "--state-dir", default=".bingo", help="SQLite file, secrets, stack.pid, stack.log"
    )
    local.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    local.add_argument("--http-port", type=int, default=8000, help="HTTP port (0: any free)")
    local.add_argument("--ws-port", type=int, default=8001, help="WebSocket port (0: any free)")
    _add_aws_stage_options(deploy, functions=True)
    deploy.add_argument(
        "--bundle", help="deploy this Lambda zip (from `bingo-ops bundle`) instead of building one"
    )
    _add_fanout_options(deploy)
    deploy.set_defaults(run=_deploy)

    teardown = sub.add_parser(
        "teardown",
        help="stop the background local stack, or delete an AWS stage",
        description="--target local (the default) stops the stack `deploy` started (SIGTERM: "
        "connections close and $disconnect runs) and prints what it metered; its database and "
        "secrets stay. Nothing running is not an error. --target aws deletes every resource "
        "of the stage, including the SSM keyrings (tokens they signed stop verifying) and the "
        "DynamoDB table with its items; --dry-run prints what would go.",
    )
    teardown.add_argument(
        "--target",
        choices=("local", "aws"),
        default="local",
        help="local: stop the background local stack (default); aws: delete a stage",
    )
    teardown.add_argument("--dry-run", action="store_true", help="print the plan, delete nothing")
    teardown.add_argument("--state-dir", default=".bingo", help="the local stack's state dir")
    _add_aws_stage_options(teardown, functions=False)
    teardown.set_defaults(run=_teardown)

    _add_replay(sub)
    _add_notebooks(sub)
    _add_bench(sub)
    return top


def _add_replay(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser(
        "replay",
        help="replay a conference (generated or recorded) onto a stack and print a summary",
        description="Replay a scenario against a stack at a speed factor: the organiser creates "
        "and starts the games, public boards connect over WebSocket, players join, mark words "
        "on their real cards and claim bingo, and the games end. Without --scenario, a "
        "scenario is generated from the options below (seeded: the same options give the same "
        "scenario). Prints what the replay did: marks sent and accepted, claims, API errors, "
        "mark latency, lag behind the schedule, and whether every board's leaderboard matches "
        "the server's.",
    )
    replay.add_argument(
        "--stack",
        default="",
        help="the stack's outputs file (e.g. .bingo/outputs.json from `bingo-ops deploy`); "
        "empty (the default): start a throwaway local stack for this replay",
    )
    replay.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="time compression: 10 plays a 120 s scenario in 12 s (default 1, real time)",
    )
    replay.add_argument("--scenario", help="replay this JSONL scenario file instead of generating")
    generator = replay.add_argument_group(
        "generated scenario (defaults: bingo_ops.replay.scenario.ScenarioSpec's)"
    )
    generator.add_argument("--games", type=int, help="games, all started at t=0 (default 1)")
    generator.add_argument("--players", type=int, help="players, round-robin over games (20)")
    generator.add_argument("--boards", type=int, help="public status boards (1)")
    generator.add_argument("--grid-size", type=int, choices=(3, 4, 5), help="card size (4)")
    generator.add_argument(
        "--marks-per-minute", type=float, help="each player's mark rate, Poisson (1.0)"
    )
    generator.add_argument(
        "--join-curve",
        choices=("instant", "linear", "front_loaded"),
        help="how joins spread over the join window (linear)",
    )
    generator.add_argument("--join-window", type=float, help="joins happen in [0, S] s (60)")
    generator.add_argument(
        "--duration", type=float, help="seconds until games without a bingo end (120)"
    )
    generator.add_argument(
        "--verify-delay", type=float, help="seconds from a claim to its verification (5)"
    )
    generator.add_argument(
        "--no-claims", action="store_true", default=None, help="players never claim bingo"
    )
    generator.add_argument("--seed", type=int, help="the scenario's only randomness (1)")
    generator.add_argument("--save-scenario", help="also write the generated scenario here (JSONL)")
    replay.add_argument(
        "--no-player-sockets",
        action="store_true",
        help="players use HTTP only (by default each also holds a WebSocket, like a phone)",
    )
    replay.add_argument("--json", action="store_true", help="print the full summary as JSON")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(run=_replay)


def _add_notebooks(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    notebooks = sub.add_parser(
        "notebooks",
        help="run the Jupyter notebook suite headlessly and write an HTML report",
        description="The Jupyter operations suite (notebooks/).",
    )
    actions = notebooks.add_subparsers(dest="notebooks_command", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="execute the notebooks with papermill and write an HTML report",
        description="Execute every notebook (sorted by name) with papermill, each in a fresh "
        "kernel running in the current directory, with its own parameters: those it declares "
        'from --params ("*" for all, then its number prefix such as "04", then its name '
        'such as "04_latency"), --stack, and output_dir set to OUTPUT/NAME/. Writes each '
        "executed notebook and its HTML page there, OUTPUT/index.html (status, time, headline "
        "results, links) and OUTPUT/summary.json (every notebook's results.json). A failing "
        "notebook does not stop the others; the command then exits 1 naming each failed "
        "notebook and cell.",
    )
    run.add_argument(
        "--output", required=True, help="the report's folder (e.g. reports/demo); created"
    )
    run.add_argument(
        "--params",
        help='YAML or JSON file: {"*": {...}, "04" or "04_latency": {...}}',
    )
    run.add_argument(
        "--only",
        action="append",
        metavar="NAMES",
        help="run only these notebooks: names, stems or numbers, comma-separated or repeated "
        "(e.g. --only 01,04_latency)",
    )
    run.add_argument(
        "--stack",
        help="every notebook that takes `stack` runs against this outputs file (e.g. "
        ".bingo/outputs.json); by default each starts its own local stack",
    )
    run.add_argument(
        "--notebooks", default="notebooks", help="the notebooks' folder (default: ./notebooks)"
    )
    run.set_defaults(run=_notebooks_run)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bingo-ops` console script."""
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
