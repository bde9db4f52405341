"""The local state directory: the SQLite file and the generated token secrets."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from backend.domain.tokens import TokenKind, generate_spec
from backend.wiring import KEY_VARIABLES

SECRETS_FILE = "secrets.json"
DATABASE_FILE = "bingo.sqlite3"


@dataclass(frozen=True)
class StateDir:
    """A folder holding one local stack's database and secrets."""

    path: Path

    @property
    def database(self) -> Path:
        """The SQLite file."""
        return self.path / DATABASE_FILE

    def ensure(self) -> None:
        """Create the folder (0700) and an empty database file (0600) if missing.

        SQLite gives its -wal and -shm files the database file's mode, so creating the file
        with 0600 keeps the whole database private (https://sqlite.org/tempfiles.html).
        """
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.database.exists():
            os.close(os.open(self.database, os.O_WRONLY | os.O_CREAT, 0o600))

    def secrets(self) -> dict[str, str]:
        """The keyring variables, generated on first use and kept in a 0600 file."""
        self.ensure()
        target = self.path / SECRETS_FILE
        if not target.exists():
            specs = {KEY_VARIABLES[kind]: generate_spec("local1") for kind in TokenKind}
            # Created with 0600 from the start: never world-readable, not even for a moment.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(specs, out, indent=2)
        loaded: dict[str, str] = json.loads(target.read_text())
        return loaded

    def environment(self) -> dict[str, str]:
        """Environment variables for `backend.wiring` over this state dir."""
        return {
            "BINGO_STORE": "sqlite",
            "BINGO_SQLITE_PATH": str(self.database),
            **self.secrets(),
        }
