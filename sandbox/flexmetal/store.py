"""The stand-in's state in SQLite: servers, SSH keys, reinstall commands, faults and settings.

Everything lives in one file so that a stand-in restarted mid-`pulumi up` carries on exactly
where it stopped. Objects are stored as the JSON documents the API returns.
"""

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    uuid TEXT NOT NULL,
    doc TEXT NOT NULL,
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    UNIQUE (kind, uuid)
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# An object's status beside its document, indexed: the provisioner looks at the few servers in
# transit on every tick, not at a fleet's thousand delivered ones. Added to older state files.
STATUS_COLUMN = """
ALTER TABLE objects ADD COLUMN status TEXT;
UPDATE objects SET status = json_extract(doc, '$.status');
"""
STATUS_INDEX = "CREATE INDEX IF NOT EXISTS objects_by_status ON objects (kind, status);"


class Store:
    """Thread-safe JSON document store; `transaction()` makes read-modify-write atomic."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(objects)")}
        if "status" not in columns:
            self._db.executescript(STATUS_COLUMN)
        self._db.execute(STATUS_INDEX)
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator["Store"]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def put(self, kind: str, uuid: str, doc: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO objects (kind, uuid, doc, status) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, uuid) DO UPDATE SET doc = excluded.doc, "
                "status = excluded.status",
                (kind, uuid, json.dumps(doc), doc.get("status")),
            )

    def get(self, kind: str, uuid: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM objects WHERE kind = ? AND uuid = ?", (kind, uuid)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT doc FROM objects WHERE kind = ? ORDER BY seq", (kind,)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def with_status(self, kind: str, statuses: Iterable[str]) -> list[dict[str, Any]]:
        """The objects of `kind` in one of `statuses` (the provisioner's walk looks at the
        few in transit, not at a fleet's thousand delivered servers on every tick)."""
        wanted = list(statuses)
        marks = ", ".join("?" * len(wanted))
        with self._lock:
            rows = self._db.execute(
                f"SELECT doc FROM objects WHERE kind = ? AND status IN ({marks}) ORDER BY seq",
                (kind, *wanted),
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def delete(self, kind: str, uuid: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM objects WHERE kind = ? AND uuid = ?", (kind, uuid))

    def setting(self, key: str, default: Any) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
