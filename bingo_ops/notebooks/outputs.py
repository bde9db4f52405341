"""What a notebook leaves behind: `results.json`, figures that keep their data, plotly set up."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

RESULTS_FILE: Final = "results.json"
# JupyterLab renders the plotly mimetype; nbconvert's HTML export takes the text/html part,
# which carries the figure's data and plotly.js, so the report needs no network.
NOTEBOOK_RENDERERS: Final = "plotly_mimetype+notebook"


def setup_plotly() -> None:
    """Render figures for JupyterLab and for the HTML report alike (call once per notebook)."""
    import plotly.io as pio

    pio.renderers.default = NOTEBOOK_RENDERERS


def _plain(value: Any) -> Any:
    """JSON-ready values: numpy/pandas scalars to Python, NaN and infinities to None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def save_results(output_dir: str | os.PathLike[str], results: Mapping[str, Any]) -> Path:
    """Write a notebook's headline figures to `output_dir/results.json` (atomically).

    Values are made JSON-ready: numpy and pandas scalars become Python numbers, NaN and
    infinities become null, paths and other objects become strings.

    Returns:
        The path written.
    """
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RESULTS_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(_plain(results), indent=2, sort_keys=True) + "\n")
    partial.replace(path)
    return path


def save_figure(figure: Any, output_dir: str | os.PathLike[str], name: str) -> Path:
    """Save a plotly figure as `output_dir/name.html` (with its data) and `name.json`.

    The HTML loads plotly.js from a `plotly.min.js` written once beside it, so the figures
    open offline without each carrying 3 MB of JavaScript; the JSON is the figure itself, for
    tools and tests.

    Returns:
        The HTML file's path.
    """
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    html = folder / f"{name}.html"
    figure.write_html(str(html), include_plotlyjs="directory", full_html=True)
    (folder / f"{name}.json").write_text(figure.to_json())
    return html
