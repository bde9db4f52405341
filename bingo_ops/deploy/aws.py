"""Deploy a stage to AWS (or any AWS-compatible endpoint): observe, plan, execute.

`plan_aws` observes and plans without changing anything; `deploy_aws` also executes the plan
(or, with `dry_run`, prints it through an executor that calls nothing); `teardown_aws` deletes
what deploy made. Every client is `boto3.client(service, region_name=...)`, so
`AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` and the usual credential chain apply.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TextIO

from bingo_ops.deploy.execute import DisplayExecutor, Executor
from bingo_ops.deploy.observe import Clients, observe
from bingo_ops.deploy.plan import Action, Observed, plan_deploy, plan_teardown
from bingo_ops.deploy.resources import (
    AwsConfig,
    Names,
    code_sha256,
    desired_resources,
    outputs,
)

__all__ = ["Action", "AwsConfig", "DeployResult", "deploy_aws", "plan_aws", "teardown_aws"]


@dataclass(frozen=True)
class DeployResult:
    """What a deploy or teardown planned and, unless it was a dry run, left behind.

    Attributes:
        plan: The actions, in order (empty when nothing needed doing).
        outputs: After a deploy: URLs and resource names (the keys of
            `bingo-ops serve --outputs`, with `target: "aws"`); after a teardown: what was
            removed; None for a dry run.
    """

    plan: list[Action]
    outputs: dict[str, Any] | None


def _plan(clients: Clients, config: AwsConfig, bundle: bytes) -> tuple[Observed, list[Action]]:
    observed = observe(clients, config)
    desired = desired_resources(
        config,
        code_sha256=code_sha256(bundle),
        account=observed.account,
        partition=observed.partition,
    )
    return observed, plan_deploy(desired, observed)


def plan_aws(config: AwsConfig, bundle: bytes) -> list[Action]:
    """What `deploy_aws` would do now; only read-only calls are made.

    Args:
        config: The stage.
        bundle: The Lambda zip's bytes (`bingo_ops.deploy.bundle`).

    Returns:
        The actions, in order; empty when the stage is up to date.

    Raises:
        bingo_ops.deploy.plan.DriftError: Something differs in a way only a teardown fixes.
        botocore.exceptions.ClientError: AWS refused a read (credentials, permissions).
    """
    return _plan(Clients(config.region), config, bundle)[1]


def deploy_aws(
    config: AwsConfig, bundle: bytes, *, dry_run: bool = False, out: TextIO | None = None
) -> DeployResult:
    """Make the stage on AWS match this code and configuration.

    Args:
        config: The stage.
        bundle: The Lambda zip's bytes.
        dry_run: Print the plan (to `out`, else stdout) and change nothing.
        out: Where progress (or the dry run's plan table) goes; silent when None, except a dry
            run prints to stdout.

    Returns:
        The plan and, unless a dry run, the outputs (URLs and resource names).

    Raises:
        bingo_ops.deploy.plan.DriftError: Something differs in a way only a teardown fixes.
        botocore.exceptions.ClientError: AWS refused a call; what was done stays done and
            deploying again plans only the rest.
    """
    clients = Clients(config.region)
    observed, plan = _plan(clients, config, bundle)
    if dry_run:
        DisplayExecutor(out if out is not None else sys.stdout).execute(plan)
        return DeployResult(plan=plan, outputs=None)
    executor = Executor(clients, config, known=observed.known(), bundle=bundle, out=out)
    executor.execute(plan)
    return DeployResult(plan=plan, outputs=outputs(config, executor.known))


def teardown_aws(
    config: AwsConfig, *, dry_run: bool = False, out: TextIO | None = None
) -> DeployResult:
    """Delete everything deploy made for the stage (API mappings to its APIs included).

    Args:
        config: The stage (`domain` names the custom domains to delete).
        dry_run: Print the plan (to `out`, else stdout) and delete nothing.
        out: Where progress (or the dry run's plan table) goes.

    Returns:
        The plan and, unless a dry run, `{"target", "stage", "region", "removed"}`.

    Raises:
        botocore.exceptions.ClientError: AWS refused a call.
    """
    clients = Clients(config.region)
    observed = observe(clients, config, every_mapping=True)
    plan = plan_teardown(observed)
    if dry_run:
        DisplayExecutor(out if out is not None else sys.stdout).execute(plan)
        return DeployResult(plan=plan, outputs=None)
    Executor(clients, config, known=observed.known(), out=out).execute(plan)
    removed = [f"{action.kind} {action.name}" for action in plan]
    return DeployResult(
        plan=plan,
        outputs={
            "target": "aws",
            "stage": config.stage,
            "region": config.region,
            "prefix": Names(config).base,
            "removed": removed,
        },
    )
