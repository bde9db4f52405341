"""The Lambda package `backend/` deploys alone: stdlib, PyJWT, and boto3 in AWS adapters only.

Every import is found with `ast`, including imports inside functions (how the adapters defer
boto3) and `importlib.import_module("...")` / `__import__("...")` calls with a literal name.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "backend"
ANYWHERE = frozenset({"jwt"})
AWS = frozenset({"boto3", "botocore"})
# Only the adapters that talk to AWS may use its SDK (the Lambda runtime provides it).
AWS_ADAPTERS = frozenset(
    {
        "backend/adapters/dispatch_lambda.py",
        "backend/adapters/gateway_management_api.py",
        "backend/adapters/store_dynamodb.py",
    }
)
FORBIDDEN = frozenset({"bingo_ops", "aiohttp", "fastapi", "flask", "starlette"})


def imported_roots(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """The top-level package of every module a tree imports, with the line of the import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.partition(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import stays inside the package
                yield "backend", node.lineno
            elif node.module:
                yield node.module.partition(".")[0], node.lineno
        elif (
            isinstance(node, ast.Call)
            and _called_name(node.func) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value.lstrip(".").partition(".")[0] or "backend", node.lineno


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _sources() -> list[Path]:
    return sorted(BACKEND.rglob("*.py"))


def _imports() -> list[tuple[str, str, int]]:
    found = []
    for path in _sources():
        relative = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        found += [(relative, root, line) for root, line in imported_roots(tree)]
    return found


def test_backend_imports_only_the_stdlib_pyjwt_and_boto3_in_aws_adapters() -> None:
    wrong = []
    for relative, root, line in _imports():
        if root == "backend" or root in sys.stdlib_module_names or root in ANYWHERE:
            continue
        if root in AWS and relative in AWS_ADAPTERS:
            continue
        wrong.append(f"{relative}:{line} imports {root}")

    assert wrong == []


def test_backend_never_imports_the_operators_package_or_web_frameworks() -> None:
    wrong = [
        f"{relative}:{line} imports {root}"
        for relative, root, line in _imports()
        if root in FORBIDDEN
    ]

    assert wrong == []


def test_the_walk_sees_every_module_and_the_deferred_boto3_import() -> None:
    found = _imports()

    assert {relative for relative, _, _ in found} >= {
        "backend/wiring.py",
        "backend/domain/tokens.py",
        "backend/handlers/http_api.py",
    }
    assert ("backend/domain/tokens.py", "jwt") in {(r, m) for r, m, _ in found}
    assert "boto3" in {m for r, m, _ in found if r == "backend/adapters/gateway_management_api.py"}


@pytest.mark.parametrize(
    ("source", "roots"),
    [
        ("import os.path, json", ["os", "json"]),
        ("from urllib.parse import urlsplit", ["urllib"]),
        ("from . import sibling", ["backend"]),
        ("from ..ports import store", ["backend"]),
        ("def f():\n    import boto3\n", ["boto3"]),
        ("class C:\n    def m(self):\n        from botocore.config import Config\n", ["botocore"]),
        ("import importlib\nimportlib.import_module('flask.app')", ["importlib", "flask"]),
        ("__import__('bingo_ops.cli')", ["bingo_ops"]),
        ("try:\n    import fastapi\nexcept ImportError:\n    pass\n", ["fastapi"]),
        ("if TYPE_CHECKING:\n    from starlette import app\n", ["starlette"]),
    ],
)
def test_imported_roots_finds_every_kind_of_import(source: str, roots: list[str]) -> None:
    assert [root for root, _ in imported_roots(ast.parse(source))] == roots
