"""Execute a notebook with parameters through papermill; a failing cell becomes one clear error."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

DEFAULT_KERNEL: Final = "python3"
DEFAULT_TIMEOUT_S: Final = 600.0


class NotebookError(RuntimeError):
    """A notebook cell raised.

    Attributes:
        notebook: The notebook that was executed.
        output: The executed copy, outputs up to the failing cell included.
        cell_index: Index of the failing cell among the executed cells (0-based; markdown
            and papermill's injected-parameters cell counted, its error banner not).
        source: The failing cell's code.
        ename: The exception's class name.
        evalue: The exception's message.
        traceback: The kernel's traceback lines (ANSI colours included).
    """

    def __init__(
        self,
        notebook: Path,
        output: Path,
        cell_index: int,
        ename: str,
        evalue: str,
        source: str,
        traceback: list[str],
    ) -> None:
        first_line = source.strip().splitlines()[0] if source.strip() else ""
        super().__init__(
            f"{notebook}: cell {cell_index} ({first_line[:60]!r}) raised {ename}: {evalue} "
            f"(executed copy: {output})"
        )
        self.notebook = notebook
        self.output = output
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.source = source
        self.traceback = traceback


def execute_notebook(
    path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    parameters: Mapping[str, Any],
    cwd: str | os.PathLike[str],
    *,
    kernel_name: str = DEFAULT_KERNEL,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Run every cell of a notebook in a fresh kernel, with its `parameters` cell overridden.

    The kernel inherits this process's environment (so `AWS_ENDPOINT_URL` and credentials set
    here reach boto3 in the notebook) and runs in `cwd`, so relative paths in parameters are
    relative to `cwd`.

    Args:
        path: The notebook; its first code cell is tagged `parameters`.
        output_path: Where the executed copy (with outputs) is written.
        parameters: Values injected after the `parameters` cell.
        cwd: The kernel's working directory.
        kernel_name: The Jupyter kernel (the interpreter running this code for `python3`).
        timeout_s: Seconds any one cell may run.

    Raises:
        NotebookError: A cell raised; names the notebook, the cell and the error.
        FileNotFoundError: The notebook or `cwd` does not exist.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook, output = Path(path), Path(output_path)
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook at {notebook}")
    if not Path(cwd).is_dir():
        raise FileNotFoundError(f"no directory {cwd} to run {notebook.name} in")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=dict(parameters),
            kernel_name=kernel_name,
            cwd=str(cwd),
            progress_bar=False,
            request_save_on_cell_execute=False,
            execution_timeout=timeout_s,
        )
    except PapermillExecutionError as error:
        raise NotebookError(
            notebook,
            output,
            error.cell_index,
            error.ename,
            error.evalue,
            error.source,
            list(error.traceback),
        ) from error
