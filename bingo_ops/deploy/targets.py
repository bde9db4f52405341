"""Deploy or tear down either target (the local stack or AWS) and report it, for CLI and notebooks.

Both targets answer with a `DeployReport`: the plan as flat rows (`Action.view()` for AWS, one
row for the local stack), the outputs (None on a dry run) and, once run, the smoke test.
`bingo_ops.deploy.aws` (and so boto3) is imported only when the target is AWS.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TextIO

from bingo_ops.deploy.fanout import (
    DEFAULT_BOARD_WINDOW_S,
    DEFAULT_FANOUT,
    DEFAULT_PLAYER_WINDOW_S,
)
from bingo_ops.deploy.local import (
    LocalOptions,
    deploy_local,
    read_outputs,
    running_pid,
    teardown_local,
)

if TYPE_CHECKING:
    from bingo_ops.deploy.aws import AwsConfig

Target = Literal["local", "aws"]
TARGETS: Final = ("local", "aws")
RESULTS_FILE: Final = "results.json"
PLAN_COLUMNS: Final = ("verb", "kind", "name", "summary")


@dataclass
class DeployReport:
    """What a deploy or teardown planned, did and (after `smoke_test`) found.

    Attributes:
        target: `local` or `aws`.
        stage: The stage name.
        region: The AWS region (`local` for the local stack).
        dry_run: Nothing was changed.
        plan: One flat row per action: verb, kind, name, summary.
        outputs: URLs and names (the outputs file's content); None on a dry run or teardown
            of nothing.
        log: What the deploy printed while it worked.
        smoke: The smoke test's result, once run.
        extra: Target-specific facts kept in the results (the local stack's pid and log).
    """

    target: str
    stage: str
    region: str
    dry_run: bool
    plan: list[dict[str, Any]]
    outputs: dict[str, Any] | None
    log: str = ""
    smoke: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        """How many actions the plan has: in total, by verb, by kind and by verb then kind."""
        by_verb_kind: dict[str, dict[str, int]] = {}
        for row in self.plan:
            kinds = by_verb_kind.setdefault(row["verb"], {})
            kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
        return {
            "total": len(self.plan),
            "byVerb": dict(sorted(Counter(row["verb"] for row in self.plan).items())),
            "byKind": dict(sorted(Counter(row["kind"] for row in self.plan).items())),
            "byVerbAndKind": {verb: dict(sorted(k.items())) for verb, k in by_verb_kind.items()},
        }

    def table(self) -> str:
        """The plan as a text table with a count line, or a line saying it is empty."""
        if not self.plan:
            return "Nothing to do.\n"
        widths = {c: max(len(c), *(len(str(row[c])) for row in self.plan)) for c in PLAN_COLUMNS}

        def line(values: Mapping[str, Any]) -> str:
            return "  ".join(f"{values[c]!s:<{widths[c]}}" for c in PLAN_COLUMNS).rstrip() + "\n"

        header = line({c: c.upper() for c in PLAN_COLUMNS})
        by_verb = self.counts()["byVerb"]
        total = ", ".join(f"{n} to {verb}" for verb, n in by_verb.items())
        return header + "".join(line(row) for row in self.plan) + f"Plan: {total}.\n"

    def frame(self) -> Any:
        """The plan as a `pandas.DataFrame`, one row per action (pandas is imported here only)."""
        import pandas as pd

        return pd.DataFrame(self.plan, columns=list(PLAN_COLUMNS))

    def results(self) -> dict[str, Any]:
        """Everything worth keeping, as JSON-ready data (`results.json`)."""
        return {
            "target": self.target,
            "stage": self.stage,
            "region": self.region,
            "dryRun": self.dry_run,
            "plan": self.counts(),
            "actions": self.plan,
            "outputs": self.outputs,
            "smoke": self.smoke,
            **self.extra,
        }


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    """Write a JSON file atomically (parent folders created); returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    partial.replace(path)
    return path


def write_results(output_dir: str | os.PathLike[str], report: DeployReport) -> Path:
    """Write `results.json` (and `outputs.json` when there are outputs) into `output_dir`.

    Returns:
        The path of `results.json`.
    """
    folder = Path(output_dir)
    if report.outputs is not None:
        write_json(folder / "outputs.json", report.outputs)
    return write_json(folder / RESULTS_FILE, report.results())


# -- AWS ------------------------------------------------------------------------------------


def aws_config(
    stage: str,
    region: str,
    *,
    prefix: str = "bingo",
    domain: str | None = None,
    certificate_arn: str | None = None,
    memory_mb: int = 256,
    timeout_s: int = 10,
    fanout: str = DEFAULT_FANOUT,
    board_window_s: float = DEFAULT_BOARD_WINDOW_S,
    player_window_s: float = DEFAULT_PLAYER_WINDOW_S,
) -> AwsConfig:
    """The AWS stage configuration (imports the AWS deployer).

    `fanout` (`stream` or `inline`) and the two batching windows are described on `AwsConfig`.

    Raises:
        ValueError: The configuration is not deployable (see `AwsConfig`).
    """
    from bingo_ops.deploy.aws import AwsConfig

    return AwsConfig(
        stage=stage,
        region=region,
        prefix=prefix,
        domain=domain,
        certificate_arn=certificate_arn,
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        fanout=fanout,
        board_window_s=board_window_s,
        player_window_s=player_window_s,
    )


def plan_aws_stage(config: AwsConfig, bundle: bytes | None = None) -> DeployReport:
    """What deploying `config` would do now, changing nothing.

    Args:
        config: The stage.
        bundle: The Lambda zip; built from this checkout when None.
    """
    from bingo_ops.deploy.aws import plan_aws
    from bingo_ops.deploy.bundle import build_bundle

    actions = plan_aws(config, bundle if bundle is not None else build_bundle())
    return DeployReport(
        target="aws",
        stage=config.stage,
        region=config.region,
        dry_run=True,
        plan=[action.view() for action in actions],
        outputs=None,
    )


def deploy_aws_stage(
    config: AwsConfig,
    *,
    bundle: bytes | None = None,
    dry_run: bool = False,
    out: TextIO | None = None,
) -> DeployReport:
    """Build the bundle (unless given) and make the AWS stage match it.

    Args:
        config: The stage.
        bundle: The Lambda zip; built from this checkout when None.
        dry_run: Print the plan to `out` and change nothing.
        out: Where progress (or the dry run's plan) goes; kept in `log` when None.

    Raises:
        ValueError: The stage has drifted in a way only a teardown fixes.
        botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError: AWS refused.
    """
    from bingo_ops.deploy.aws import deploy_aws
    from bingo_ops.deploy.bundle import build_bundle

    log = io.StringIO()
    result = deploy_aws(
        config,
        bundle if bundle is not None else build_bundle(),
        dry_run=dry_run,
        out=out if out is not None else log,
    )
    return DeployReport(
        target="aws",
        stage=config.stage,
        region=config.region,
        dry_run=dry_run,
        plan=[action.view() for action in result.plan],
        outputs=result.outputs,
        log=log.getvalue(),
    )


def teardown_aws_stage(
    config: AwsConfig, *, dry_run: bool = False, out: TextIO | None = None
) -> DeployReport:
    """Delete the AWS stage (or, with `dry_run`, print what would go).

    Raises:
        botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError: AWS refused.
    """
    from bingo_ops.deploy.aws import teardown_aws

    log = io.StringIO()
    result = teardown_aws(config, dry_run=dry_run, out=out if out is not None else log)
    return DeployReport(
        target="aws",
        stage=config.stage,
        region=config.region,
        dry_run=dry_run,
        plan=[action.view() for action in result.plan],
        outputs=result.outputs,
        log=log.getvalue(),
    )


# -- the local stack ----------------------------------------------------------------------------


def _local_row(verb: str, state_dir: Path, summary: str) -> dict[str, Any]:
    return {"verb": verb, "kind": "local_stack", "name": str(state_dir), "summary": summary}


def plan_local_stack(options: LocalOptions) -> DeployReport:
    """What deploying the local stack would do now: start it, or keep the one running."""
    pid = running_pid(options.state_dir)
    if pid is None:
        row = _local_row(
            "start",
            options.state_dir,
            f"bingo-ops serve on {options.host}, HTTP port {options.http_port}, "
            f"WebSocket port {options.ws_port} (0: any free port)",
        )
    else:
        row = _local_row("keep", options.state_dir, f"already running (pid {pid})")
    return DeployReport("local", "local", "local", True, [row], None)


def deploy_local_stack(options: LocalOptions, *, dry_run: bool = False) -> DeployReport:
    """Start the local stack in the background, or report the running one.

    Raises:
        bingo_ops.deploy.local.LocalStackError: It did not start.
    """
    if dry_run:
        return plan_local_stack(options)
    deployed = deploy_local(options)
    if deployed.started:
        row = _local_row("start", options.state_dir, f"started (pid {deployed.pid})")
    else:
        row = _local_row("keep", options.state_dir, f"already running (pid {deployed.pid})")
    return DeployReport(
        "local",
        str(deployed.outputs.get("stage", "local")),
        "local",
        False,
        [row],
        deployed.outputs,
        extra={"pid": deployed.pid, "started": deployed.started, "log": str(deployed.log)},
    )


def teardown_local_stack(state_dir: Path, *, dry_run: bool = False) -> DeployReport:
    """Stop the background local stack (its database and secrets stay)."""
    if dry_run:
        pid = running_pid(state_dir)
        rows = [] if pid is None else [_local_row("stop", state_dir, f"pid {pid}")]
        return DeployReport("local", "local", "local", True, rows, None)
    outputs = read_outputs(state_dir / "outputs.json")
    stopped = teardown_local(state_dir)
    rows = []
    if stopped.pid is not None:
        how = "killed after SIGTERM timed out" if stopped.forced else "stopped on SIGTERM"
        rows.append(_local_row("stop", state_dir, f"pid {stopped.pid} {how}"))
    return DeployReport("local", "local", "local", False, rows, outputs, log=stopped.summary)


# -- the notebook's entry point ---------------------------------------------------------------


def run_deploy(
    target: str,
    stage: str,
    region: str,
    dry_run: bool,
    state_dir: str | os.PathLike[str],
    *,
    http_port: int = 0,
    ws_port: int = 0,
) -> DeployReport:
    """Deploy `target` the way `bingo-ops deploy` does, for a notebook.

    Args:
        target: `local` (the background local stack; `stage` and `region` unused) or `aws`.
        stage: The AWS stage name.
        region: The AWS region.
        dry_run: Only plan.
        state_dir: The local stack's state dir.
        http_port: The local stack's HTTP port (0: any free one).
        ws_port: The local stack's WebSocket port (0: any free one).

    Raises:
        ValueError: An unknown target or an undeployable configuration.
    """
    if target == "local":
        options = LocalOptions(Path(state_dir), http_port=http_port, ws_port=ws_port)
        return deploy_local_stack(options, dry_run=dry_run)
    if target == "aws":
        return deploy_aws_stage(aws_config(stage, region), dry_run=dry_run)
    raise ValueError(f"unknown target {target!r}; use one of {', '.join(TARGETS)}")


def plan_deploy(
    target: str,
    stage: str,
    region: str,
    state_dir: str | os.PathLike[str],
    *,
    http_port: int = 0,
    ws_port: int = 0,
) -> DeployReport:
    """What `run_deploy` would do now, changing nothing.

    Raises:
        ValueError: An unknown target or an undeployable configuration.
    """
    if target == "local":
        options = LocalOptions(Path(state_dir), http_port=http_port, ws_port=ws_port)
        return plan_local_stack(options)
    if target == "aws":
        return plan_aws_stage(aws_config(stage, region))
    raise ValueError(f"unknown target {target!r}; use one of {', '.join(TARGETS)}")
