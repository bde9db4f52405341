"""`bingo-ops bundle`, and `deploy`/`teardown --target aws` against a moto server over HTTP.

The AWS commands run in this process (`cli.main`), where the `aws` fixture has pointed boto3 at
the moto server through `AWS_ENDPOINT_URL`; what they did is checked with boto3 list calls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from bingo_ops import cli

REGION = "us-east-1"
STAGE = ["--target", "aws", "--stage", "dev", "--region", REGION]


def _functions() -> list[str]:
    client = boto3.client("lambda", region_name=REGION)
    return sorted(f["FunctionName"] for f in client.list_functions()["Functions"])


def _apis() -> list[str]:
    return sorted(
        a["Name"] for a in boto3.client("apigatewayv2", region_name=REGION).get_apis()["Items"]
    )


def _parameters() -> list[str]:
    ssm = boto3.client("ssm", region_name=REGION)
    return sorted(p["Name"] for p in ssm.describe_parameters()["Parameters"])


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bundle_writes_the_zip_and_prints_its_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "dist" / "lambda.zip"
    code, out, _ = _main(capsys, "bundle", "--output", str(target))

    assert code == 0
    assert f"{target.stat().st_size:,} bytes" in out
    assert str(target) in out


@pytest.mark.slow
def test_deploy_dry_run_then_deploy_then_teardown(
    aws: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = tmp_path / "aws-outputs.json"

    code, out, err = _main(capsys, "deploy", *STAGE, "--dry-run", "--outputs", str(outputs))
    assert code == 0, err
    assert "create" in out
    assert "lambda_function" in out
    assert "bingo-dev-http-api" in out
    assert "to create" in out
    assert "Dry run" in out
    assert not outputs.exists()
    assert _functions() == []
    assert _apis() == []
    assert _parameters() == []

    code, out, err = _main(capsys, "deploy", *STAGE, "--outputs", str(outputs))
    assert code == 0, err
    written: dict[str, Any] = json.loads(outputs.read_text())
    assert {"httpUrl", "wsUrl", "managementUrl", "metricsUrl"} <= set(written)
    assert written["target"] == "aws"
    assert written["wsUrl"].startswith("wss://")
    assert written["wsUrl"].endswith("/dev")
    assert written["managementUrl"].startswith("https://")
    assert _functions() == sorted(written["functions"].values())
    assert _apis() == ["bingo-dev-http", "bingo-dev-ws"]
    assert _parameters() == sorted(written["parameters"].values())
    assert "lambda_function" in out  # the plan that was carried out
    assert json.loads(out[out.index("\n{\n") + 1 :]) == written

    code, out, err = _main(capsys, "deploy", *STAGE, "--dry-run")
    assert code == 0, err
    assert "Nothing to do" in out  # deploying the same code again changes nothing

    code, out, err = _main(capsys, "teardown", *STAGE, "--dry-run")
    assert code == 0, err
    assert "delete" in out
    assert "Dry run" in out
    assert _functions() != []

    code, out, err = _main(capsys, "teardown", *STAGE)
    assert code == 0, err
    assert "to delete" in out
    assert _functions() == []
    assert _apis() == []
    assert _parameters() == []


def test_aws_target_without_stage_or_region_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _main(capsys, "deploy", "--target", "aws", "--region", REGION)
    assert code == 2
    assert "--stage and --region" in err

    code, _, err = _main(capsys, "teardown", "--target", "aws", "--stage", "dev")
    assert code == 2


def test_an_invalid_stage_is_reported_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _main(
        capsys, "deploy", "--target", "aws", "--stage", "no_way", "--region", REGION
    )
    assert code == 2
    assert err.startswith("bingo-ops deploy: stage must be")


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (
            "deploy",
            (
                "--target",
                "--state-dir",
                "--outputs",
                "--http-port",
                "--ws-port",
                "--stage",
                "--region",
                "--prefix",
                "--dry-run",
                "--domain",
                "--certificate-arn",
            ),
        ),
        ("teardown", ("--target", "--state-dir", "--stage", "--region", "--dry-run")),
        ("bundle", ("--output",)),
    ],
)
def test_help_explains_every_option(
    command: str, options: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for option in options:
        assert option in out


def test_a_missing_bundle_file_is_reported_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _main(capsys, "deploy", *STAGE, "--bundle", str(tmp_path / "nope.zip"))

    assert code == 1
    assert err.startswith("bingo-ops deploy: ")
    assert "nope.zip" in err


@pytest.mark.slow
def test_a_local_deploy_in_stream_mode_runs_the_broadcasters_with_the_given_windows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bingo_ops.deploy.local import teardown_local

    state = tmp_path / "state"
    try:
        code, _out, err = _main(
            capsys,
            *("deploy", "--target", "local", "--state-dir", str(state)),
            *("--http-port", "0", "--ws-port", "0", "--fanout", "stream"),
            *("--board-window", "0.1", "--player-window", "0.5"),
        )
        assert code == 0, err
        outputs = json.loads((state / "outputs.json").read_text())
        assert outputs["fanout"] == "stream"
        assert (outputs["boardWindowS"], outputs["playerWindowS"]) == (0.1, 0.5)
        assert outputs["streamArn"].startswith("arn:aws:dynamodb:")
    finally:
        teardown_local(state)


def test_deploy_refuses_an_unknown_fanout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["deploy", "--target", "local", "--fanout", "sometimes"])
    assert exited.value.code == 2
    assert "--fanout" in capsys.readouterr().err
