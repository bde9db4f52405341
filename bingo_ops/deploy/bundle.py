"""The Lambda bundle: a reproducible zip of `backend` and PyJWT for the Lambda Python runtime.

The same sources give the same bytes: entries are sorted, every entry has the same timestamp,
mode and creator system, and compression uses a fixed level (with the same zlib). So the
bundle's SHA-256 names the code, and deploying an unchanged tree plans no code update (Lambda
compares `CodeSha256`, the base64 SHA-256 of the zip).

boto3 is not bundled: the Lambda Python runtime provides it, and only the AWS adapters import
it (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

import backend

# ZIP cannot store dates before 1980; this is the conventional "no date" of reproducible zips.
FIXED_DATE_TIME: Final = (1980, 1, 1, 0, 0, 0)
# rw-r--r--: Lambda needs its files world-readable
# (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-deployment.html).
FILE_ATTRIBUTES: Final = 0o644 << 16
COMPRESS_LEVEL: Final = 9
# "Created on Unix", whatever the platform: zipfile records the builder's OS otherwise.
CREATE_SYSTEM_UNIX: Final = 3
THIRD_PARTY: Final = ("PyJWT",)
_SKIPPED_SUFFIXES: Final = frozenset({".pyc", ".pyo"})
_LICENSE_NAMES: Final = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS")


class BundleError(RuntimeError):
    """The bundle cannot be built (a source is missing or two files claim one path)."""


@dataclass(frozen=True)
class BundleInfo:
    """A bundle written to disk.

    Attributes:
        path: Where it was written.
        size: Its size in bytes.
        sha256: Hex SHA-256 of its bytes.
        files: The paths inside the zip, in order.
    """

    path: Path
    size: int
    sha256: str
    files: tuple[str, ...]


def default_root() -> Path:
    """The folder holding the `backend` package this process imports."""
    return Path(backend.__file__).resolve().parent.parent


def _wanted(path: PurePosixPath) -> bool:
    # Bytecode is the runtime's business (and differs per Python version); dotfiles are noise.
    if "__pycache__" in path.parts or path.suffix in _SKIPPED_SUFFIXES:
        return False
    return not any(part.startswith(".") for part in path.parts)


def backend_sources(root: Path) -> dict[str, Path]:
    """Every file of the `backend` package under `root`, by its path inside the zip.

    Raises:
        BundleError: `root` has no `backend` package.
    """
    package = root / "backend"
    if not (package / "__init__.py").is_file():
        raise BundleError(f"no backend package in {root}")
    found: dict[str, Path] = {}
    for path in sorted(package.rglob("*")):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        if path.is_file() and _wanted(relative):
            found[str(relative)] = path
    return found


def distribution_sources(name: str) -> dict[str, Path]:
    """The importable files of an installed pure-Python distribution, plus its licence files.

    Its metadata comes along too (METADATA and the licences, not RECORD or INSTALLER, which
    describe this machine's install), so the dist-info folder stays valid for `importlib`.

    Raises:
        BundleError: The distribution is not installed, lists no files, or ships compiled
            extensions (they would not match Lambda's platform).
    """
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError as error:
        raise BundleError(f"{name} is not installed; `pip install {name}`") from error
    if not dist.files:
        raise BundleError(f"{name} lists no files (no RECORD); reinstall it")
    top_level = {
        line.strip() for line in (dist.read_text("top_level.txt") or "").splitlines() if line
    }
    found: dict[str, Path] = {}
    for file in dist.files:
        relative = PurePosixPath(file.as_posix())
        if not _wanted(relative):
            continue
        head = relative.parts[0]
        if head.endswith(".dist-info"):
            keep = relative.name == "METADATA" or "licenses" in relative.parts
            keep = keep or relative.name.upper().startswith(_LICENSE_NAMES)
        else:
            keep = head in top_level or head.removesuffix(".py") in top_level
        if not keep:
            continue
        if relative.suffix in {".so", ".pyd", ".dylib"}:
            raise BundleError(f"{name} is not pure Python ({relative}); build it for Lambda")
        found[str(relative)] = Path(str(dist.locate_file(file)))
    return found


def sources(root: Path | None = None) -> dict[str, Path]:
    """Every file the bundle holds, by its path inside the zip (sorted).

    Args:
        root: The folder holding the `backend` package; the one imported by default.

    Raises:
        BundleError: A source is missing, or two sources claim one path.
    """
    found = backend_sources(root or default_root())
    for name in THIRD_PARTY:
        for arcname, path in distribution_sources(name).items():
            if arcname in found:
                raise BundleError(f"{arcname} comes from both backend and {name}")
            found[arcname] = path
    return dict(sorted(found.items()))


def build_bundle(root: Path | None = None) -> bytes:
    """The Lambda zip: `backend/` and PyJWT, byte-for-byte the same for the same sources.

    Args:
        root: The folder holding the `backend` package; the one imported by default.

    Returns:
        The zip's bytes.

    Raises:
        BundleError: A source is missing, or two sources claim one path.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for arcname, path in sources(root).items():
            entry = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            entry.external_attr = FILE_ATTRIBUTES
            entry.create_system = CREATE_SYSTEM_UNIX
            entry.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(
                entry,
                path.read_bytes(),
                compress_type=zipfile.ZIP_DEFLATED,
                compresslevel=COMPRESS_LEVEL,
            )
    return buffer.getvalue()


def write_bundle(path: str | os.PathLike[str], root: Path | None = None) -> BundleInfo:
    """Build the bundle and write it to `path` (parent folders created), atomically.

    Args:
        path: Where the zip goes, e.g. `dist/lambda.zip`.
        root: The folder holding the `backend` package; the one imported by default.

    Returns:
        Where it went, its size, SHA-256 and file list.

    Raises:
        BundleError: A source is missing, or two sources claim one path.
        OSError: The file cannot be written.
    """
    target = Path(path)
    data = build_bundle(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    partial.replace(target)
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        files = tuple(bundle.namelist())
    return BundleInfo(
        path=target, size=len(data), sha256=hashlib.sha256(data).hexdigest(), files=files
    )
