"""Helpers for the notebook tests: run a committed notebook headlessly and read what it wrote.

Every run happens in the test's tmp_path, as CI runs it: the executed copy at
`executed.ipynb`, `output_dir` at `reports/`, and the notebook's working directory tmp_path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bingo_ops.notebooks.execute import execute_notebook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


@dataclass(frozen=True)
class NotebookRun:
    """One headless run: the results.json it wrote, its output dir and its executed copy."""

    results: dict[str, Any]
    output_dir: Path
    executed: Path


def run_notebook(stem: str, tmp_path: Path, **parameters: Any) -> NotebookRun:
    """Execute notebooks/<stem>.ipynb with papermill in tmp_path and read its results.json."""
    output_dir = tmp_path / "reports"
    executed = tmp_path / "executed.ipynb"
    execute_notebook(
        NOTEBOOKS / f"{stem}.ipynb",
        executed,
        {"output_dir": str(output_dir), **parameters},
        cwd=tmp_path,
    )
    results: dict[str, Any] = json.loads((output_dir / "results.json").read_text())
    return NotebookRun(results, output_dir, executed)


def read_figure(output_dir: Path, name: str) -> dict[str, Any]:
    """A figure the notebook saved: its HTML must be there too; returns the plotly JSON."""
    assert (output_dir / f"{name}.html").is_file(), name
    figure: dict[str, Any] = json.loads((output_dir / f"{name}.json").read_text())
    return figure
