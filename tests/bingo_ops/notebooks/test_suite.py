"""The notebook suite runner and its CLI on small synthetic notebooks, and `bingo-ops replay`.

The notebooks are written here into tmp_path and run by real papermill kernels. What the
runner reports is checked against what the notebooks themselves left behind: their results.json
files, the executed copies' cells and the HTML pages.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from bingo_ops.cli import main
from bingo_ops.client.http import BingoHttp
from bingo_ops.deploy.stack import open_stack
from bingo_ops.notebooks.suite import (
    SuiteError,
    SuiteFailed,
    headline,
    load_params,
    parameters_for,
    run_suite,
)
from bingo_ops.replay.scenario import read_scenario

BINGO_OPS = Path(sys.executable).parent / "bingo-ops"
FAILING_CELL = 'raise ValueError("gamma broke")'

WRITE_RESULTS = """\
import json, pathlib
def save(results):
    folder = pathlib.Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results))
"""


def _notebook(folder: Path, name: str, parameters: str, *cells: str) -> Path:
    notebook = new_notebook(
        cells=[
            new_code_cell(parameters, metadata={"tags": ["parameters"]}),
            new_markdown_cell(f"# {name}"),
            *(new_code_cell(source) for source in cells),
        ]
    )
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    """Four notebooks: two that pass, one whose cell raises, one that writes no results."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(
        folder,
        "01_alpha",
        'stack = ""  # outputs file\noutput_dir = "unset"\nscale = 1\nlabel = "a"',
        WRITE_RESULTS,
        "import os\n"
        "print('alpha says', scale * 6)\n"
        "save({'scale': scale, 'label': label, 'stack': stack, 'cwd': os.getcwd(),\n"
        "      'seed_defined': 'seed' in globals(), 'nested': {'depth': {'value': 2.5}}})",
    )
    _notebook(
        folder,
        "02_beta",
        'output_dir = "unset"\nlabel = "b"',
        WRITE_RESULTS,
        "save({'label': label, 'undeclared': sorted(\n"
        "    n for n in ('stack', 'scale', 'seed') if n in globals())})",
    )
    _notebook(
        folder,
        "03_gamma",
        'output_dir = "unset"',
        WRITE_RESULTS,
        "ready = True",
        FAILING_CELL,
        "save({'unreachable': True})",
    )
    _notebook(folder, "04_delta", 'output_dir = "unset"', "quiet = True")
    return folder


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _injected(executed: Path) -> str:
    """The source of papermill's injected-parameters cell in an executed copy."""
    notebook = nbformat.read(executed, as_version=4)
    (cell,) = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    source: str = cell.source
    return source


@pytest.mark.slow
def test_the_suite_runs_every_notebook_with_its_parameters_and_reports_the_failure(
    tmp_path: Path, suite_dir: Path
) -> None:
    stack_file = tmp_path / "outputs.json"
    stack_file.write_text("{}")
    workdir = tmp_path / "work"
    workdir.mkdir()
    out = tmp_path / "report"
    params = {
        "*": {"scale": 5, "label": "common", "seed": 3},
        "1": {"label": "one"},
        "01_alpha": {"scale": 7, "nope": 1},
        "02": {"label": "two"},
        "09": {"x": 1},
    }

    report = run_suite(
        suite_dir, out, params=params, stack="../outputs.json", cwd=workdir, progress=False
    )

    assert [(r.name, r.status) for r in report.runs] == [
        ("01_alpha", "passed"),
        ("02_beta", "passed"),
        ("03_gamma", "failed"),
        ("04_delta", "failed"),
    ]
    alpha = _json(out / "01_alpha" / "results.json")
    # The notebook's name beats its number, which beats "*"; the suite's stack is absolute.
    assert alpha == {
        "scale": 7,
        "label": "one",
        "stack": str(stack_file.resolve()),
        "cwd": str(workdir),
        "seed_defined": False,
        "nested": {"depth": {"value": 2.5}},
    }
    beta = _json(out / "02_beta" / "results.json")
    assert beta == {"label": "two", "undeclared": []}
    assert re.findall(r"^(\w+) =", _injected(out / "02_beta" / "02_beta.ipynb"), re.M) == [
        "label",
        "output_dir",
    ]
    assert report.runs[0].ignored == ["nope"]
    assert report.runs[0].parameters["output_dir"] == str((out / "01_alpha").resolve())
    assert report.unmatched == ["09"]

    # The failure names the cell that raised: its index in the notebook as written, and its
    # In [n] number in the executed copy (whose error banners shift the indexes).
    gamma, delta = report.failures
    written = nbformat.read(suite_dir / "03_gamma.ipynb", as_version=4)
    executed = nbformat.read(out / "03_gamma" / "03_gamma.ipynb", as_version=4)
    assert gamma.cell_index is not None
    assert written.cells[gamma.cell_index].source == FAILING_CELL
    (numbered,) = [c for c in executed.cells if c.get("execution_count") == gamma.execution_count]
    assert numbered.source == FAILING_CELL
    assert (gamma.notebook, gamma.cell_source, gamma.ename, gamma.evalue) == (
        "03_gamma",
        FAILING_CELL,
        "ValueError",
        "gamma broke",
    )
    assert not (out / "03_gamma" / "results.json").exists()
    assert (delta.notebook, delta.cell_index, delta.ename) == ("04_delta", None, "MissingResults")
    with pytest.raises(SuiteFailed) as failed:
        report.raise_for_failures()
    where = f"03_gamma: cell {gamma.cell_index}, In [{gamma.execution_count}] ({FAILING_CELL!r})"
    assert where in str(failed.value)
    assert "04_delta" in str(failed.value)

    for name in ("01_alpha", "02_beta", "03_gamma", "04_delta"):
        assert nbformat.read(out / name / f"{name}.ipynb", as_version=4).cells
        assert (out / name / f"{name}.html").read_text().lstrip().startswith("<!DOCTYPE html>")
    assert "alpha says 42" in (out / "01_alpha" / "01_alpha.html").read_text()
    assert "gamma broke" in (out / "03_gamma" / "03_gamma.html").read_text()

    summary = _json(out / "summary.json")
    assert set(summary) == {"01_alpha", "02_beta", "03_gamma", "04_delta", "suite"}
    assert summary["01_alpha"]["results"] == alpha
    assert summary["02_beta"]["results"] == beta
    assert summary["02_beta"]["status"] == "passed"
    assert summary["03_gamma"]["status"] == "failed"
    assert summary["03_gamma"]["results"] is None
    assert summary["03_gamma"]["error"]["cell_index"] == gamma.cell_index
    assert summary["03_gamma"]["error"]["cell_source"] == FAILING_CELL
    assert summary["01_alpha"]["duration_s"] > 0
    assert "error" not in summary["01_alpha"]
    totals = summary["suite"]
    assert {k: totals[k] for k in ("status", "notebooks", "passed", "failed", "failures")} == {
        "status": "failed",
        "notebooks": 4,
        "passed": 2,
        "failed": 2,
        "failures": ["03_gamma", "04_delta"],
    }

    index = (out / "index.html").read_text()
    links = re.findall(r'href="([^"]+)"', index)
    assert {"01_alpha/01_alpha.html", "01_alpha/results.json", "03_gamma/03_gamma.html"} <= set(
        links
    )
    assert all((out / link).is_file() for link in links)
    assert "03_gamma/results.json" not in links
    assert "nested.depth.value: 2.5" in index
    assert "gamma broke" in index
    assert index.count('class="failed-row"') == 2


@pytest.mark.slow
def test_the_cli_runs_only_the_selected_notebooks_and_exits_1_naming_the_failed_cell(
    tmp_path: Path, suite_dir: Path
) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"02": {"label": "from-json"}}))

    ran = subprocess.run(
        [
            str(BINGO_OPS),
            "notebooks",
            "run",
            "--notebooks",
            str(suite_dir),
            "--only",
            "02_beta",
            "--only",
            "3",
            "--params",
            str(params),
            "--output",
            "report",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )

    assert ran.returncode == 1, ran.stderr
    summary = _json(tmp_path / "report" / "summary.json")
    error = summary["03_gamma"]["error"]
    # The failing cell is the fifth of the notebook as written (index 4), run fifth.
    assert (error["cell_index"], error["execution_count"]) == (4, 5)
    assert "bingo-ops notebooks run: 1 of 2 notebooks failed" in ran.stderr
    assert f"03_gamma: cell 4, In [5] ({FAILING_CELL!r}): ValueError: gamma broke" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert f"Report: {tmp_path / 'report' / 'index.html'}" in ran.stdout
    assert set(summary) == {"02_beta", "03_gamma", "suite"}
    assert summary["02_beta"]["results"]["label"] == "from-json"
    assert not (tmp_path / "report" / "01_alpha").exists()


def test_an_unknown_notebook_name_stops_the_cli_before_any_kernel_starts(
    tmp_path: Path, suite_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["notebooks", "run", "--notebooks", str(suite_dir), "--only", "1,7", "--output", "x"]
    )

    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("bingo-ops notebooks run: no notebook named 7 (available: 01_alpha")
    assert not (tmp_path / "x").exists()
    with pytest.raises(SuiteError, match="no stack outputs file"):
        run_suite(suite_dir, tmp_path / "y", stack=tmp_path / "missing.json", progress=False)


def test_parameters_layer_from_all_to_prefix_to_name_and_only_declared_ones_pass() -> None:
    params = {
        "*": {"seed": 1, "label": "all", "stack": "from-file"},
        "04_latency.ipynb": {"label": "name"},
        "04": {"label": "prefix", "samples": 3, "typo": 1},
        "05": {"label": "other"},
    }
    injected, ignored = parameters_for(
        "04_latency",
        {"stack", "output_dir", "label", "samples"},
        params,
        stack="/s.json",
        output_dir=Path("/out/04_latency"),
    )

    assert injected == {
        "stack": "/s.json",
        "output_dir": "/out/04_latency",
        "label": "name",
        "samples": 3,
    }
    assert ignored == ["typo"]
    # Without a suite stack, the file's own "*" stack applies; 01_deploy declares none.
    assert parameters_for("04_latency", {"stack"}, params, stack=None, output_dir=Path("o")) == (
        {"stack": "from-file"},
        ["label", "samples", "typo"],
    )
    assert parameters_for("01_deploy", {"target"}, params, stack="/s", output_dir=Path("o")) == (
        {},
        [],
    )


def test_params_files_are_yaml_or_json_mappings_of_mappings(tmp_path: Path) -> None:
    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text('"*":\n  seed: 7\n01_deploy:\n  target: local\n06:\n')
    json_file = tmp_path / "p.json"
    json_file.write_text('{"04": {"samples": 5}}')
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")

    assert load_params(yaml_file) == {"*": {"seed": 7}, "01_deploy": {"target": "local"}, "6": {}}
    assert load_params(json_file) == {"04": {"samples": 5}}
    with pytest.raises(SuiteError, match="must map notebook names"):
        load_params(bad)
    shipped = load_params(Path(__file__).parents[3] / "notebooks" / "demo-params.yaml")
    assert shipped["01_deploy"] == {"target": "local", "state_dir": ".bingo", "dry_run": False}


def test_headline_flattens_nested_results_briefly() -> None:
    results = {
        "p50_ms": 12.345678,
        "ok": True,
        "by": {"fn": {"ws_connect": 3}},
        "rows": list(range(10)),
        "tags": ["a", "b"],
        "note": "x" * 100,
        "log": "/tmp/stack.log",
        "state": "ended",
    }

    assert headline(results) == [
        "p50_ms: 12.35",
        "ok: true",
        "by.fn.ws_connect: 3",
        "state: ended",
        "rows: [10 items]",
        "tags: [a, b]",
        f"note: {'x' * 45}...",
        "log: /tmp/stack.log",
    ]
    assert headline({str(i): i for i in range(10)}, limit=3) == [
        "0: 0",
        "1: 1",
        "2: 2",
        "... 7 more",
    ]


@pytest.mark.slow
def test_replay_cli_plays_a_generated_conference_onto_a_running_stack(tmp_path: Path) -> None:
    with open_stack("", state_dir=tmp_path / "state") as stack:
        outputs = tmp_path / "outputs.json"
        outputs.write_text(json.dumps(stack.outputs))
        scenario_file = tmp_path / "scenario.jsonl"
        ran = subprocess.run(
            [
                str(BINGO_OPS),
                "replay",
                "--stack",
                str(outputs),
                "--games",
                "1",
                "--players",
                "4",
                "--boards",
                "1",
                "--marks-per-minute",
                "30",
                "--join-window",
                "2",
                "--duration",
                "20",
                "--seed",
                "3",
                "--speed",
                "20",
                "--save-scenario",
                str(scenario_file),
                "--json",
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=100,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        summary = json.loads(ran.stdout)
        game_id = summary["games"]["0"]
        events, game, leaderboard = asyncio.run(_reads(stack.outputs, stack.admin_token(), game_id))
        metrics = stack.metrics()

    _, actions = read_scenario(scenario_file)
    assert sum(summary["actions"].values()) == len(actions)
    assert summary["errors"] == {}
    # The stack's own event log and metering agree with what the replay says it did.
    assert summary["marks_ok"] == sum(e["type"] == "word_marked" for e in events) > 0
    assert sum(e["type"] == "player_joined" for e in events) == 4
    assert len(leaderboard["leaderboard"]) == 4
    assert game["state"] == "ended"
    assert summary["boards_in_sync"] == {"board-01": True}
    # Each player's phone and the board held a WebSocket.
    assert metrics["lambda"]["functions"]["ws_connect"]["invocations"] == 5


async def _reads(
    outputs: dict[str, Any], token: str, game_id: str
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    async with BingoHttp(outputs["httpUrl"], token=token) as admin:
        return (
            await admin.all_events(game_id),
            await admin.game(game_id),
            await admin.leaderboard(game_id),
        )


def test_replay_cli_refuses_a_scenario_file_with_generator_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["replay", "--scenario", str(tmp_path / "s.jsonl"), "--players", "3"])

    assert code == 2
    assert "--scenario replays a file" in capsys.readouterr().err
