"""Every committed notebook as it is in git: parameters first and explained, and no outputs.

papermill injects its parameters after the cell tagged `parameters`; CI runs each notebook with
its own values, so the names here are the contract the notebook tests and CI rely on.
"""

from __future__ import annotations

import ast
import io
import tokenize

import nbformat
import pytest
from notebook_kit import NOTEBOOKS

# Notebook stem -> the names its parameters cell assigns.
PARAMETERS: dict[str, set[str]] = {
    "01_deploy": {"target", "stage", "region", "dry_run", "output_dir", "state_dir"},
    "02_live_monitor": {
        "stack",
        "output_dir",
        "as_public",
        "nickname",
        "game_id",
        "duration_s",
        "demo_activity",
    },
    "03_replay": {
        "stack",
        "output_dir",
        "scenario",
        "games",
        "players",
        "boards",
        "grid_size",
        "marks_per_player_per_minute",
        "duration_s",
        "speed",
        "seed",
    },
    "04_latency": {
        "stack",
        "output_dir",
        "players",
        "push_subscribers",
        "pollers",
        "poll_interval_s",
        "duration_s",
        "marks_per_second",
        "seed",
    },
    "05_invocations": {
        "stack",
        "output_dir",
        "players",
        "games",
        "boards",
        "marks_per_player_per_minute",
        "duration_s",
        "speed",
        "poll_interval_s",
        "seed",
        "fanout",
        "board_window_s",
        "player_window_s",
    },
    "06_engagement": {
        "stack",
        "output_dir",
        "events",
        "scenario",
        "freq",
        "top_words",
        "speed",
        "seed",
    },
}
# The deploy notebook makes a stack; every other one runs against one.
DEPLOYS = "01_deploy"
COMMITTED = sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb"))


def test_every_committed_notebook_has_an_entry() -> None:
    assert COMMITTED, NOTEBOOKS
    assert sorted(PARAMETERS) == COMMITTED


def _assigned(source: str) -> list[tuple[str, str]]:
    """Each statement's assigned name and the trailing comment on its line ("" when none)."""
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    assigned = []
    for statement in ast.parse(source).body:
        assert isinstance(statement, ast.Assign), ast.unparse(statement)
        assert len(statement.targets) == 1, ast.unparse(statement)
        target = statement.targets[0]
        assert isinstance(target, ast.Name), ast.unparse(statement)
        assigned.append((target.id, comments.get(statement.end_lineno or 0, "")))
    return assigned


@pytest.mark.parametrize("stem", COMMITTED)
def test_the_committed_notebook_has_parameters_first_and_no_outputs(stem: str) -> None:
    assert stem in PARAMETERS, f"notebooks/{stem}.ipynb has no entry in PARAMETERS"
    notebook = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    first = notebook.cells[0]

    assert first.cell_type == "code"
    assert "parameters" in first.metadata.get("tags", [])
    assigned = _assigned(first.source)
    names = [name for name, _ in assigned]
    assert len(names) == len(set(names)), names
    assert set(names) == PARAMETERS[stem]
    assert "output_dir" in names
    if stem != DEPLOYS:
        assert "stack" in names
    # Every parameter says what it is for, on its own line.
    assert [name for name, comment in assigned if not comment] == []
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    assert notebook.metadata.kernelspec.name == "python3"
