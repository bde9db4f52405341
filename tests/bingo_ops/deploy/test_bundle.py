"""The Lambda bundle: reproducible bytes, the right files, and a handler that runs from it alone."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from bingo_ops.deploy.bundle import (
    COMPRESS_LEVEL,
    FILE_ATTRIBUTES,
    FIXED_DATE_TIME,
    BundleError,
    build_bundle,
    write_bundle,
)

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "tests" / "events"


def _names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        return bundle.namelist()


@pytest.fixture(scope="module")
def bundle() -> bytes:
    return build_bundle()


def test_two_builds_are_byte_identical(bundle: bytes) -> None:
    assert build_bundle() == bundle


def test_the_same_sources_with_other_timestamps_give_the_same_bytes(
    bundle: bytes, tmp_path: Path
) -> None:
    # copytree with plain `copy` gives every file a new mtime (copy2 would keep it).
    shutil.copytree(
        ROOT / "backend",
        tmp_path / "backend",
        copy_function=shutil.copy,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    os.utime(tmp_path / "backend" / "wiring.py", (1e9, 1e9))

    assert build_bundle(tmp_path) == bundle

    (tmp_path / "backend" / "wiring.py").write_text(
        (ROOT / "backend" / "wiring.py").read_text() + "\n# changed\n"
    )
    assert build_bundle(tmp_path) != bundle


def test_entries_are_sorted_with_fixed_dates_modes_and_compression(bundle: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        infos = archive.infolist()
        assert archive.testzip() is None
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for info in infos:
        assert info.date_time == FIXED_DATE_TIME
        assert info.external_attr == FILE_ATTRIBUTES
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.create_system == 3
    assert COMPRESS_LEVEL == 9


def test_holds_every_backend_module_and_pyjwt_and_nothing_else(bundle: bytes) -> None:
    names = set(_names(bundle))
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "backend").rglob("*.py")}
    modules = {m for m in modules if "__pycache__" not in m}

    assert modules <= names
    assert "jwt/__init__.py" in names
    assert any(n.endswith(".dist-info/METADATA") and n.startswith("pyjwt") for n in names)
    assert any("LICENSE" in n for n in names)
    assert all(n.split("/")[0] == "backend" or n.startswith(("jwt/", "pyjwt")) for n in names)
    assert not [n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__" in n]
    assert not [n for n in names if n.startswith(("bingo_ops", "tests", "boto3", "botocore"))]


def test_a_missing_backend_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no backend package"):
        build_bundle(tmp_path)


def test_write_bundle_reports_size_hash_and_files(bundle: bytes, tmp_path: Path) -> None:
    info = write_bundle(tmp_path / "dist" / "lambda.zip")

    data = (tmp_path / "dist" / "lambda.zip").read_bytes()
    assert data == bundle
    assert info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert list(info.files) == _names(data)
    assert not list((tmp_path / "dist").glob("*.partial"))


def test_the_http_handler_runs_from_the_extracted_bundle_alone(
    bundle: bytes, tmp_path: Path
) -> None:
    task = tmp_path / "task"
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        archive.extractall(task)
    event = json.loads((EVENTS / "http_v2_default_route.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/nowhere"
    (tmp_path / "event.json").write_text(json.dumps(event))
    probe = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(task)!r})
        from backend.handlers import http_api
        import jwt
        event = json.load(open({str(tmp_path / "event.json")!r}))
        response = http_api.handler(event, None)
        print(json.dumps({{
            "response": response,
            "jwt": jwt.__file__,
            "loaded": sorted(m for m in ("boto3", "botocore", "cryptography", "bingo_ops")
                             if m in sys.modules),
        }}))
        """
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BINGO_STORE": "sqlite",
        "BINGO_SQLITE_PATH": str(tmp_path / "lambda.sqlite3"),
        "BINGO_GATEWAY": "memory",
        "BINGO_USER_TOKEN_KEYS": "t1:" + "u" * 40,
        "BINGO_PUBLIC_TOKEN_KEYS": "t1:" + "p" * 40,
        "BINGO_ADMIN_TOKEN_KEYS": "t1:" + "a" * 40,
    }

    # -I: no PYTHON* variables, user site or script dir; -S: no site-packages at all, so
    # only the standard library and the extracted bundle can be imported.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["response"]["statusCode"] == 404
    assert json.loads(found["response"]["body"])["error"]["code"] == "route_not_found"
    assert Path(found["jwt"]).is_relative_to(task)
    assert found["loaded"] == []
