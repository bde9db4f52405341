"""Run the notebook suite headlessly: each notebook in its own kernel, then one HTML report."""

from __future__ import annotations

import html
import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from bingo_ops.notebooks.execute import NotebookError, execute_notebook

ALL: Final = "*"
SUMMARY_FILE: Final = "summary.json"
INDEX_FILE: Final = "index.html"
RESULTS_FILE: Final = "results.json"
# summary.json holds one entry per notebook stem ("01_deploy", ...) and the totals under this key.
SUITE_KEY: Final = "suite"
# How many flattened headline figures the index shows per notebook.
HEADLINE_ITEMS: Final = 8

Status = Literal["passed", "failed"]


class SuiteError(ValueError):
    """The suite cannot start: no notebooks, an unknown name in `only`, malformed parameters."""


@dataclass(frozen=True)
class Failure:
    """Why a notebook failed.

    Attributes:
        notebook: The notebook's stem.
        cell_index: Index of the failing cell in the notebook as written (0-based, markdown
            cells counted; papermill's injected-parameters cell and error banners not), or None
            when no cell is to blame (the kernel died, the notebook wrote no results.json) or
            the executed copy could not be read.
        cell_source: The failing cell's first line ("" without a cell).
        ename: The exception's class name.
        evalue: The exception's message.
        execution_count: The failing cell's `In [n]` number in the executed copy and its HTML
            page (None if unknown).
    """

    notebook: str
    cell_index: int | None
    cell_source: str
    ename: str
    evalue: str
    execution_count: int | None = None

    def describe(self) -> str:
        """One line: the notebook, the cell and the error."""
        where = self.notebook
        if self.cell_index is not None:
            where += f": cell {self.cell_index}"
            if self.execution_count is not None:
                where += f", In [{self.execution_count}]"
        if self.cell_source:
            where += f" ({self.cell_source[:60]!r})"
        return f"{where}: {self.ename}: {self.evalue}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (the shape of `error` in summary.json)."""
        return {
            "cell_index": self.cell_index,
            "execution_count": self.execution_count,
            "cell_source": self.cell_source,
            "ename": self.ename,
            "evalue": self.evalue,
            "message": self.describe(),
        }


# Cells papermill adds to an executed copy; the author's notebook has none of them.
_PAPERMILL_TAGS: Final = frozenset({"injected-parameters", "papermill-error-cell-tag"})


def _is_error(output: dict[str, Any]) -> bool:
    # papermill does not count `sys.exit()` / `sys.exit(0)` as a failure; neither does this.
    clean_exit = output.get("ename") == "SystemExit" and output.get("evalue") in ("", "0")
    return output.get("output_type") == "error" and not clean_exit


def _cell_failure(stem: str, error: NotebookError) -> Failure:
    """A failure located in the notebook as written, read back from the executed copy.

    papermill's own index counts its injected-parameters cell, and the copy it saves also has
    error banners inserted, so neither matches the notebook its author edits.
    """
    index: int | None = None
    count: int | None = None
    try:
        # An .ipynb file is JSON; papermill writes nbformat 4.
        cells: list[dict[str, Any]] = json.loads(Path(error.output).read_text())["cells"]
        authored = [
            cell
            for cell in cells
            if not _PAPERMILL_TAGS & set(cell.get("metadata", {}).get("tags", []))
        ]
        for i, cell in enumerate(authored):
            failed = any(_is_error(output) for output in cell.get("outputs", []))
            if failed or cell.get("metadata", {}).get("papermill", {}).get("exception"):
                index, count = i, cell.get("execution_count")
                break
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return Failure(
        stem, index, _first_line(error.source), error.ename, error.evalue, execution_count=count
    )


@dataclass
class NotebookRun:
    """One notebook's run.

    Attributes:
        name: The notebook's stem, e.g. `04_latency`.
        source: The notebook that was run.
        status: `passed`, or `failed` (a cell raised, or no results.json was written).
        duration_s: Seconds from starting its kernel to its HTML page written.
        parameters: What was injected (only parameters the notebook declares).
        ignored: Parameters the suite's params named for it that it does not declare.
        output_dir: OUTPUT/<stem>/, its `output_dir` parameter.
        executed: The executed copy, OUTPUT/<stem>/<stem>.ipynb (None if never written).
        html: Its HTML page, OUTPUT/<stem>/<stem>.html (None if never written).
        results: The content of its results.json (None if absent).
        failure: Why it failed (None when it passed).
    """

    name: str
    source: Path
    status: Status
    duration_s: float
    parameters: dict[str, Any]
    ignored: list[str]
    output_dir: Path
    executed: Path | None = None
    html: Path | None = None
    results: dict[str, Any] | None = None
    failure: Failure | None = None

    def as_dict(self, relative_to: Path) -> dict[str, Any]:
        """One notebook's entry in summary.json; paths relative to the report's folder."""
        entry: dict[str, Any] = {
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "results": self.results,
            "parameters": self.parameters,
            "ignored_parameters": self.ignored,
            "html": _relative(self.html, relative_to),
            "executed": _relative(self.executed, relative_to),
        }
        if self.failure is not None:
            entry["error"] = self.failure.as_dict()
        return entry


@dataclass
class SuiteReport:
    """What a suite run did.

    Attributes:
        output_dir: The report's folder.
        runs: One per notebook run, in order.
        duration_s: Seconds for the whole suite.
        unmatched: Keys of the parameters that name no notebook in the folder (not used).
    """

    output_dir: Path
    runs: list[NotebookRun] = field(default_factory=list)
    duration_s: float = 0.0
    unmatched: list[str] = field(default_factory=list)

    @property
    def index(self) -> Path:
        """The report's index page."""
        return self.output_dir / INDEX_FILE

    @property
    def summary(self) -> Path:
        """The report's summary.json."""
        return self.output_dir / SUMMARY_FILE

    @property
    def failures(self) -> list[Failure]:
        """Why each failed notebook failed, in run order."""
        return [run.failure for run in self.runs if run.failure is not None]

    @property
    def ok(self) -> bool:
        """Whether every notebook passed."""
        return not self.failures

    def totals(self) -> dict[str, Any]:
        """The suite's totals (summary.json's `suite` entry)."""
        failed = [run.name for run in self.runs if run.status == "failed"]
        return {
            "status": "passed" if not failed else "failed",
            "notebooks": len(self.runs),
            "passed": len(self.runs) - len(failed),
            "failed": len(failed),
            "failures": failed,
            "duration_s": round(self.duration_s, 3),
            "unmatched_parameters": self.unmatched,
        }

    def as_dict(self) -> dict[str, Any]:
        """The content of summary.json: {stem: entry, ..., "suite": totals}."""
        out: dict[str, Any] = {run.name: run.as_dict(self.output_dir) for run in self.runs}
        out[SUITE_KEY] = self.totals()
        return out

    def table(self) -> str:
        """A plain-text table: notebook, status, seconds, and the error of each failure."""
        width = max([len(run.name) for run in self.runs] + [len("notebook")])
        lines = [f"{'notebook':<{width}}  status  seconds"]
        for run in self.runs:
            lines.append(f"{run.name:<{width}}  {run.status:<6}  {run.duration_s:7.1f}")
            if run.ignored:
                lines.append(f"{'':<{width}}  ignored parameters: {', '.join(run.ignored)}")
        if self.unmatched:
            lines.append(f"parameters for no notebook here (unused): {', '.join(self.unmatched)}")
        totals = self.totals()
        lines.append(
            f"{totals['passed']} of {totals['notebooks']} passed in {self.duration_s:.1f} s"
        )
        return "\n".join(lines) + "\n"

    def raise_for_failures(self) -> None:
        """Raise `SuiteFailed` if any notebook failed.

        Raises:
            SuiteFailed: Names each failed notebook and its cell.
        """
        if not self.ok:
            raise SuiteFailed(self)


class SuiteFailed(RuntimeError):
    """At least one notebook of the suite failed; the message names each one and its cell."""

    def __init__(self, report: SuiteReport) -> None:
        failures = report.failures
        lines = [f"{len(failures)} of {len(report.runs)} notebooks failed (report: {report.index})"]
        lines += [f"  {failure.describe()}" for failure in failures]
        super().__init__("\n".join(lines))
        self.report = report


def _relative(path: Path | None, base: Path) -> str | None:
    if path is None:
        return None
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def discover(notebooks_dir: str | os.PathLike[str]) -> list[Path]:
    """The suite's notebooks: `*.ipynb` directly in `notebooks_dir`, sorted by name.

    Raises:
        SuiteError: The folder does not exist or holds no notebook.
    """
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise SuiteError(f"no notebooks folder at {folder}")
    found = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not found:
        raise SuiteError(f"no notebooks in {folder}")
    return found


def _prefix(stem: str) -> str:
    """The number in front of a stem: `04` for `04_latency` ("" without one)."""
    head = stem.split("_", 1)[0]
    return head if head.isdigit() else ""


def _names_exactly(key: str, stem: str) -> bool:
    """Whether `key` is the notebook's stem or file name (not just its number)."""
    key = key.strip()
    return key in (stem, f"{stem}.ipynb")


def _matches(key: str, stem: str) -> bool:
    """Whether a name from `only` or a params key designates the notebook `stem`."""
    key = key.strip()
    if _names_exactly(key, stem):
        return True
    prefix = _prefix(stem)
    # "4" and "04" both name 04_latency.
    return bool(prefix) and key.isdigit() and int(key) == int(prefix)


def select(notebooks: Sequence[Path], only: Iterable[str] | None) -> list[Path]:
    """The notebooks `only` names (all of them when None), in their original order.

    Args:
        notebooks: Candidates, e.g. from `discover`.
        only: Names, stems or number prefixes: `04_latency.ipynb`, `04_latency`, `04` or `4`.

    Raises:
        SuiteError: A name matches no notebook.
    """
    if only is None:
        return list(notebooks)
    names = [name for name in only if name.strip()]
    unknown = [n for n in names if not any(_matches(n, nb.stem) for nb in notebooks)]
    if unknown:
        available = ", ".join(nb.stem for nb in notebooks)
        raise SuiteError(f"no notebook named {', '.join(unknown)} (available: {available})")
    return [nb for nb in notebooks if any(_matches(n, nb.stem) for n in names)]


def load_params(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read a parameters file (YAML, or JSON, which YAML reads too).

    The file maps `"*"` (every notebook) and notebook stems or number prefixes (`04_latency`,
    `04`) to parameter mappings, e.g. `{"*": {"seed": 7}, "04": {"samples": 50}}`.

    Raises:
        SuiteError: The file is not such a mapping.
        OSError: It cannot be read.
    """
    import yaml

    text = Path(path).read_text()
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path} is not YAML or JSON: {exc}") from exc
    if loaded is None:
        return {}
    return _check_params(loaded, str(path))


def _check_params(params: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(params, Mapping):
        raise SuiteError(f"{where}: parameters must map notebook names to mappings")
    checked: dict[str, dict[str, Any]] = {}
    for key, values in params.items():
        if values is None:
            values = {}
        if not isinstance(values, Mapping) or not all(isinstance(k, str) for k in values):
            raise SuiteError(f"{where}: the parameters of {key!r} must be a name: value mapping")
        checked[str(key)] = dict(values)
    return checked


def declared_parameters(notebook: str | os.PathLike[str]) -> set[str]:
    """The names the notebook's `parameters` cell assigns (papermill's inspection)."""
    import papermill

    inspected: Mapping[str, Any] = papermill.inspect_notebook(str(notebook))
    return set(inspected)


def parameters_for(
    stem: str,
    declared: Iterable[str],
    params: Mapping[str, Mapping[str, Any]],
    *,
    stack: str | None,
    output_dir: Path,
) -> tuple[dict[str, Any], list[str]]:
    """The parameters to inject into one notebook, and those named for it that it lacks.

    Later layers win: `params["*"]`, then the suite's `stack`, then `params[prefix]` (e.g.
    `"04"`), then `params[stem]`; `output_dir` is always the notebook's own report folder.
    Only declared names are injected: a notebook that takes no `stack` gets none.

    Returns:
        (parameters to inject, sorted names given only for this notebook but not declared).
        Undeclared names in `"*"` are expected (not every notebook takes every parameter)
        and are not listed.
    """
    names = set(declared)
    merged: dict[str, Any] = dict(params.get(ALL, {}))
    if stack is not None:
        merged["stack"] = stack
    own: dict[str, Any] = {}
    # Prefix keys first and the stem last, so the more specific key wins.
    for key in sorted(params, key=lambda k: (_names_exactly(k, stem), k)):
        if key != ALL and _matches(key, stem):
            own.update(params[key])
    merged.update(own)
    merged["output_dir"] = str(output_dir)
    injected = {name: value for name, value in merged.items() if name in names}
    ignored = sorted(name for name in own if name not in names)
    return injected, ignored


def unmatched_keys(params: Mapping[str, Any], notebooks: Sequence[Path]) -> list[str]:
    """Keys of `params` that name none of `notebooks` (a typo, or a notebook not there yet)."""
    return [k for k in params if k != ALL and not any(_matches(k, nb.stem) for nb in notebooks)]


def _first_line(source: str) -> str:
    stripped = source.strip()
    return stripped.splitlines()[0] if stripped else ""


def export_html(executed: Path, destination: Path) -> Path:
    """Convert an executed notebook to a standalone HTML page (nbconvert, no network needed).

    Figures keep their data and plotly.js (see `bingo_ops.notebooks.outputs`); images are
    embedded.
    """
    from nbconvert import HTMLExporter

    # nbconvert's traitlets constructors carry no annotations.
    exporter = HTMLExporter(embed_images=True)  # type: ignore[no-untyped-call]
    body, _ = exporter.from_filename(str(executed))
    destination.write_text(body, encoding="utf-8")
    return destination


def _read_results(path: Path) -> dict[str, Any]:
    loaded = json.loads(path.read_text())
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} holds {type(loaded).__name__}, not a JSON object")
    return loaded


def run_notebook(
    notebook: Path,
    output_dir: Path,
    parameters: Mapping[str, Any],
    *,
    cwd: Path,
    ignored: Sequence[str] = (),
) -> NotebookRun:
    """Run one notebook in a fresh kernel and leave its executed copy, HTML and results.

    A failure is recorded in the returned run, never raised, so a suite can carry on.

    Args:
        notebook: The notebook.
        output_dir: Its folder in the report (its `output_dir` parameter should point here).
        parameters: What to inject.
        cwd: The kernel's working directory.
        ignored: Parameters that were not injected, for the record.
    """
    stem = notebook.stem
    output_dir.mkdir(parents=True, exist_ok=True)
    executed = output_dir / f"{stem}.ipynb"
    page = output_dir / f"{stem}.html"
    results_path = output_dir / RESULTS_FILE
    # A results.json left by an earlier run must not pass for this run's.
    results_path.unlink(missing_ok=True)
    run = NotebookRun(stem, notebook, "passed", 0.0, dict(parameters), list(ignored), output_dir)
    started = time.perf_counter()
    try:
        execute_notebook(notebook, executed, parameters, cwd=cwd)
    except NotebookError as error:
        run.failure = _cell_failure(stem, error)
    except Exception as error:  # the kernel died or did not start: still report the rest
        run.failure = Failure(stem, None, "", type(error).__name__, str(error))
    if executed.is_file():
        run.executed = executed
        try:
            run.html = export_html(executed, page)
        except Exception as error:  # a report page must not hide the notebook's own outcome
            run.failure = run.failure or Failure(
                stem, None, "", type(error).__name__, f"HTML export failed: {error}"
            )
    if results_path.is_file():
        try:
            run.results = _read_results(results_path)
        except ValueError as error:
            run.failure = run.failure or Failure(stem, None, "", type(error).__name__, str(error))
    elif run.failure is None:
        run.failure = Failure(
            stem, None, "", "MissingResults", f"wrote no {RESULTS_FILE} in {output_dir}"
        )
    run.status = "failed" if run.failure is not None else "passed"
    run.duration_s = time.perf_counter() - started
    return run


def _unreadable(notebook: Path, folder: Path, error: Exception) -> NotebookRun:
    failure = Failure(notebook.stem, None, "", type(error).__name__, f"unreadable: {error}")
    return NotebookRun(notebook.stem, notebook, "failed", 0.0, {}, [], folder, failure=failure)


def run_suite(
    notebooks_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    only: Iterable[str] | None = None,
    stack: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> SuiteReport:
    """Run the notebooks one after another, each in a fresh kernel, and write the report.

    For each notebook (sorted by name) this injects the parameters it declares, with
    `output_dir` set to OUTPUT/<stem>/; writes the executed copy OUTPUT/<stem>/<stem>.ipynb and
    its HTML page OUTPUT/<stem>/<stem>.html; and reads its OUTPUT/<stem>/results.json. A failed
    notebook is recorded and the others still run, so the report is complete; then
    OUTPUT/index.html (a table linking every page) and OUTPUT/summary.json are written. Call
    `raise_for_failures()` on the result to turn failures into an error.

    Kernels run in `cwd`, by default this process's working directory, so a relative path in
    the parameters (`state_dir: .bingo`, a stack's outputs file) means in a notebook what it
    means to whoever started the suite (from the repository: `make demo`, CI). The report's
    own paths are absolute, so they do not depend on `cwd`.

    Args:
        notebooks_dir: The folder of notebooks.
        output_dir: The report's folder (created).
        params: `"*"` -> parameters for every notebook; a stem (`04_latency`) or number prefix
            (`04`) -> that notebook's own, which win. Undeclared names are not injected; keys
            naming no notebook are listed in `report.unmatched`.
        only: Run just these notebooks: names, stems or number prefixes.
        stack: Every notebook that takes `stack` gets this outputs file (made absolute), or
            "" to start its own local stack; None leaves each notebook's default. A notebook's
            own `stack` in `params` still wins.
        cwd: The kernels' working directory (default: the current one).
        progress: Show a progress bar over the notebooks.

    Returns:
        The report; `report.ok` says whether every notebook passed.

    Raises:
        SuiteError: No notebooks, `only` names an unknown notebook, `params` is malformed, or
            `stack` is a file that does not exist. Nothing has run then.
    """
    # tqdm ships no type hints and types-tqdm is not a dev dependency.
    from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]

    workdir = Path(cwd) if cwd is not None else Path.cwd()
    report_dir = Path(output_dir).resolve()
    available = discover(notebooks_dir)
    chosen = select(available, only)
    given = _check_params(params or {}, "params")
    stack_value: str | None = None
    if stack is not None and str(stack).strip():
        stack_path = workdir / stack
        if not stack_path.is_file():
            raise SuiteError(f"no stack outputs file at {stack_path}")
        stack_value = str(stack_path.resolve())
    elif stack is not None:
        stack_value = ""

    # Not an error: one parameters file serves notebooks folders that differ (a notebook in
    # progress, a --notebooks of one's own); the report lists them so a typo shows.
    report = SuiteReport(report_dir, unmatched=unmatched_keys(given, available))
    report_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tqdm(chosen, desc="notebooks", unit="notebook", disable=not progress) as bar:
        for notebook in bar:
            bar.set_postfix_str(notebook.stem)
            folder = report_dir / notebook.stem
            try:
                declared = declared_parameters(notebook)
            except Exception as error:  # not a notebook papermill can read: report, go on
                report.runs.append(_unreadable(notebook, folder, error))
            else:
                parameters, ignored = parameters_for(
                    notebook.stem, declared, given, stack=stack_value, output_dir=folder
                )
                report.runs.append(
                    run_notebook(notebook, folder, parameters, cwd=workdir, ignored=ignored)
                )
            report.duration_s = time.perf_counter() - started
            # Rewritten after every notebook: a suite stopped half-way still leaves a report.
            write_report(report)
    report.duration_s = time.perf_counter() - started
    write_report(report)
    return report


def write_report(report: SuiteReport) -> None:
    """Write summary.json and index.html for the runs so far."""
    report.output_dir.mkdir(parents=True, exist_ok=True)
    summary = json.dumps(report.as_dict(), indent=2, sort_keys=True, default=str)
    report.summary.write_text(summary + "\n")
    report.index.write_text(render_index(report), encoding="utf-8")


def headline(results: Mapping[str, Any] | None, limit: int = HEADLINE_ITEMS) -> list[str]:
    """A few `key: value` lines from a results.json, nested keys joined with dots.

    Numbers and booleans (the headline figures) come first, then short text, then the rest,
    each in the file's order. Lists show their length unless they are a few scalars; long
    strings are cut.
    """
    if not results:
        return []
    found: list[tuple[int, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            found.append((_rank(value), f"{prefix}: {_brief(value)}"))

    walk("", results)
    items = [item for _, item in sorted(found, key=lambda pair: pair[0])]
    if len(items) > limit:
        items = [*items[:limit], f"... {len(items) - limit} more"]
    return items


def _rank(value: Any) -> int:
    if isinstance(value, int | float):  # bool included
        return 0
    if isinstance(value, str) and len(value) <= 48 and not value.startswith("/"):
        return 1  # a state or a name, not a path or a URL-long id
    return 2


def _brief(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, list):
        if len(value) <= 4 and all(isinstance(v, str | int | float | bool) for v in value):
            return "[" + ", ".join(_brief(v) for v in value) + "]"
        return f"[{len(value)} items]"
    if isinstance(value, Mapping):
        return "{}"
    text = str(value)
    return text if len(text) <= 48 else text[:45] + "..."


_STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .5rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.num { text-align: right; white-space: nowrap; }
.passed { color: #137333; font-weight: 600; }
.failed { color: #b3261e; font-weight: 600; }
tr.failed-row { background: #fdecea; }
ul.headline { margin: 0; padding-left: 1rem; font: .85em ui-monospace, monospace; }
pre.error { white-space: pre-wrap; margin: .3rem 0 0; color: #b3261e; }
"""


def render_index(report: SuiteReport) -> str:
    """The index page: one row per notebook with its status, time, headline and links."""
    e = html.escape
    totals = report.totals()
    rows = []
    for run in report.runs:
        name = e(run.name)
        link = (
            f'<a href="{e(_relative(run.html, report.output_dir) or "")}">{name}</a>'
            if run.html
            else name
        )
        files = []
        if run.results is not None:
            files.append(f'<a href="{e(run.name)}/{RESULTS_FILE}">results.json</a>')
        if run.executed:
            files.append(
                f'<a href="{e(_relative(run.executed, report.output_dir) or "")}">notebook</a>'
            )
        lines = "".join(f"<li>{e(item)}</li>" for item in headline(run.results))
        cell = f'<ul class="headline">{lines}</ul>' if lines else ""
        if run.failure is not None:
            cell += f'<pre class="error">{e(run.failure.describe())}</pre>'
        css = ' class="failed-row"' if run.status == "failed" else ""
        rows.append(
            f"<tr{css}><td>{link}</td>"
            f'<td class="{run.status}">{run.status}</td>'
            f'<td class="num">{run.duration_s:.1f} s</td>'
            f"<td>{cell}</td><td>{' | '.join(files)}</td></tr>"
        )
    status = totals["status"]
    unmatched = (
        f"<p>Parameters given for no notebook here (unused): {e(', '.join(report.unmatched))}</p>"
        if report.unmatched
        else ""
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>bingo-ops notebook suite: {status}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>bingo-ops notebook suite</h1>
<p class="{status}">{totals["passed"]} of {totals["notebooks"]} notebooks passed
in {report.duration_s:.1f} s.</p>
<p>Generated {generated}; every notebook's results are also in
<a href="{SUMMARY_FILE}">{SUMMARY_FILE}</a>.</p>
{unmatched}
<table>
<thead><tr><th>notebook</th><th>status</th><th>duration</th><th>headline results</th>
<th>files</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</body>
</html>
"""
