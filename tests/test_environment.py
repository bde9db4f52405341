"""environment.yml and pyproject.toml describe the same environment."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        found.update(extra)
    return found


def _conda_requirements() -> tuple[set[str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    return {p for p in pip if not p.startswith("-e")}, conda


def test_environment_yml_lists_exactly_the_pyproject_requirements() -> None:
    pip, _ = _conda_requirements()
    assert pip == _pyproject_requirements()


def test_environment_yml_python_matches_requires_python() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    _, conda = _conda_requirements()
    assert f"python{project['requires-python']}" in conda
