"""`execute_notebook`: parameters reach the kernel, and a failing cell is named in the error."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from bingo_ops.notebooks.execute import NotebookError, execute_notebook


def _notebook(path: Path, *sources: str) -> Path:
    cells = [new_code_cell(sources[0], metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(source) for source in sources[1:]]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
def test_parameters_and_cwd_reach_the_kernel_and_a_failing_cell_is_named(
    tmp_path: Path,
) -> None:
    source = _notebook(
        tmp_path / "probe.ipynb",
        "divisor = 1",
        "from pathlib import Path\nPath('cwd.txt').write_text(str(Path.cwd()))",
        "ratio = 1 / divisor",
    )
    run_in = tmp_path / "run"
    run_in.mkdir()

    with pytest.raises(NotebookError) as failed:
        execute_notebook(source, tmp_path / "out.ipynb", {"divisor": 0}, cwd=run_in)

    error = failed.value
    assert error.ename == "ZeroDivisionError"
    assert str(source) in str(error)
    assert "ratio = 1 / divisor" in str(error)
    assert (run_in / "cwd.txt").read_text() == str(run_in)
    assert error.source == "ratio = 1 / divisor"
    # The executed copy is kept for reading, with papermill's injected-parameters cell.
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert any("divisor = 0" in cell.source for cell in executed.cells)


def test_a_missing_notebook_is_reported_before_starting_a_kernel(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no notebook"):
        execute_notebook(tmp_path / "nope.ipynb", tmp_path / "out.ipynb", {}, cwd=tmp_path)
