"""The cost ledger: every model call and every attempt's verdict, in SQLite.

WAL mode with a busy timeout makes it safe for parallel writers in one process (one connection,
guarded by a lock) and across processes on one runner (each with its own connection). Money is
stored as integer picodollars, so sums in SQL are exact; it is ``Decimal`` everywhere else.

Budget reservations live here too: a call reserves its worst case inside the same write
transaction that checks the limits, so two processes can never both take the last dollar.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.errors import LedgerError
from bot.models.base import Usage

PICO = Decimal("1e12")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    run_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    tier TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_pico INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS calls_scope ON calls (run_id, item_id, attempt);
CREATE INDEX IF NOT EXISTS calls_ts ON calls (ts);
CREATE INDEX IF NOT EXISTS calls_provider ON calls (provider, ts);
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    expires REAL NOT NULL,
    run_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    amount_pico INTEGER NOT NULL,
    pid INTEGER NOT NULL DEFAULT 0,
    host TEXT NOT NULL DEFAULT '',
    pid_start TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    run_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    repo TEXT NOT NULL,
    kind TEXT NOT NULL,
    tier TEXT NOT NULL,
    verdict TEXT NOT NULL,
    cost_pico INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_history ON attempts (repo, kind, tier);
"""


def to_pico(amount: Decimal) -> int:
    return int((amount * PICO).to_integral_value())


def from_pico(pico: int | None) -> Decimal:
    return Decimal(pico or 0) / PICO


def process_start(pid: int) -> str:
    """When ``pid`` started (clock ticks since boot, from /proc), so a reused pid is not taken for
    the process that made a reservation; '' where /proc is not there."""
    try:
        stat = open(f"/proc/{pid}/stat", encoding="ascii", errors="replace").read()  # noqa: SIM115
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19] if ")" in stat else ""


def process_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    return not start or process_start(pid) in ("", start)


@dataclass(frozen=True)
class CallRecord:
    run_id: str
    item_id: str
    attempt: int
    purpose: str
    tier: str
    provider: str
    model: str
    usage: Usage
    cost: Decimal
    latency_s: float
    outcome: str  # ok, unparsable, unavailable, rate_limited, rejected, malformed
    error: str = ""
    ts: float = 0.0
    id: int | None = None


@dataclass(frozen=True)
class Scope:
    """Which calls a sum covers; empty fields do not filter."""

    run_id: str | None = None
    item_id: str | None = None
    attempt: int | None = None
    since: float | None = None

    def where(self, *, with_time: bool = True) -> tuple[str, list[object]]:
        clauses: list[str] = ["1=1"]
        args: list[object] = []
        for column, value in (("run_id", self.run_id), ("item_id", self.item_id), ("attempt", self.attempt)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if with_time and self.since is not None:
            clauses.append("ts >= ?")
            args.append(self.since)
        return " AND ".join(clauses), args


@dataclass(frozen=True)
class TierHistory:
    attempts: int
    passes: int
    cost: Decimal

    @property
    def avg_cost(self) -> Decimal:
        return self.cost / self.attempts if self.attempts else Decimal(0)


class Ledger:
    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(_SCHEMA)
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(f"cannot open ledger {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        """Columns added after a ledger was first written: an existing database gains them."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(calls)")}
        if "context_bytes" not in columns:
            # Bytes of prompt (context) each call carried; 0 for calls recorded before.
            self._db.execute("ALTER TABLE calls ADD COLUMN context_bytes INTEGER NOT NULL DEFAULT 0")
        # Reservations record their process, so a dead process's are released at once.
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(reservations)")}
        for name, kind in (("pid", "INTEGER NOT NULL DEFAULT 0"), ("host", "TEXT NOT NULL DEFAULT ''"),
                           ("pid_start", "TEXT NOT NULL DEFAULT ''")):  # fmt: skip
            if name not in columns:
                self._db.execute(f"ALTER TABLE reservations ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front (BEGIN IMMEDIATE) so check-then-write is atomic
        across processes."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger {self.path}: {exc}") from exc

    def _read(self, sql: str, args: list[object]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger {self.path}: {exc}") from exc

    # -- spending ----------------------------------------------------------------------------------
    def committed(self, db: sqlite3.Connection, scope: Scope) -> Decimal:
        """Spent plus still-reserved money in ``scope``; call inside ``write()`` to act on it."""
        where, args = scope.where()
        spent = db.execute(f"SELECT SUM(cost_pico) FROM calls WHERE {where}", args).fetchone()[0]  # noqa: S608
        r_where, r_args = scope.where()
        reserved = db.execute(
            f"SELECT SUM(amount_pico) FROM reservations WHERE {r_where} AND expires > ?",  # noqa: S608
            [*r_args, self._clock()],
        ).fetchone()[0]
        return from_pico((spent or 0) + (reserved or 0))

    def add_reservation(self, db: sqlite3.Connection, scope: Scope, amount: Decimal, *, ttl_s: float) -> int:
        now = self._clock()
        pid = os.getpid()
        cursor = db.execute(
            "INSERT INTO reservations (ts, expires, run_id, item_id, attempt, amount_pico,"
            " pid, host, pid_start) VALUES (?,?,?,?,?,?,?,?,?)",
            (now, now + ttl_s, scope.run_id or "", scope.item_id or "", scope.attempt or 0, to_pico(amount),
             pid, socket.gethostname(), process_start(pid)),
        )  # fmt: skip
        return int(cursor.lastrowid or 0)

    def drop_dead_reservations(self, db: sqlite3.Connection) -> int:
        """Release the reservations of processes on this machine that are gone (killed, crashed):
        their calls will never be recorded, so the money is free again now, not when they expire."""
        host, me = socket.gethostname(), os.getpid()
        rows = db.execute(
            "SELECT DISTINCT pid, pid_start FROM reservations WHERE host = ? AND pid != ? AND pid > 0",
            (host, me),
        ).fetchall()
        dropped = 0
        for pid, start in rows:
            if not process_alive(int(pid), str(start)):
                dropped += db.execute(
                    "DELETE FROM reservations WHERE host = ? AND pid = ? AND pid_start = ?",
                    (host, pid, start),
                ).rowcount
        return dropped

    def record_call(self, record: CallRecord, *, reservation: int | None = None) -> int:
        """Record a finished call and drop its reservation in one transaction."""
        with self.write() as db:
            if reservation is not None:
                db.execute("DELETE FROM reservations WHERE id = ?", (reservation,))
            u = record.usage
            cursor = db.execute(
                "INSERT INTO calls (ts, run_id, item_id, attempt, purpose, tier, provider, model,"
                " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_pico, latency_s,"
                " outcome, error)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.ts or self._clock(),
                    record.run_id,
                    record.item_id,
                    record.attempt,
                    record.purpose,
                    record.tier,
                    record.provider,
                    record.model,
                    u.input_tokens,
                    u.output_tokens,
                    u.cache_read_tokens,
                    u.cache_write_tokens,
                    to_pico(record.cost),
                    record.latency_s,
                    record.outcome,
                    record.error[:500],
                ),
            )
            return int(cursor.lastrowid or 0)

    def release(self, reservation: int) -> None:
        with self.write() as db:
            db.execute("DELETE FROM reservations WHERE id = ?", (reservation,))

    def mark_outcome(self, call_id: int, outcome: str) -> None:
        """Re-label a recorded call, e.g. when its answer turned out unparsable; the cost stays."""
        with self.write() as db:
            db.execute("UPDATE calls SET outcome = ? WHERE id = ?", (outcome, call_id))

    def set_context_bytes(self, call_id: int, size: int) -> None:
        """How many bytes of prompt a recorded call carried (the caller built the prompt)."""
        with self.write() as db:
            db.execute("UPDATE calls SET context_bytes = ? WHERE id = ?", (size, call_id))

    def context_bytes(self, scope: Scope = Scope()) -> int:
        where, args = scope.where()
        return int(self._read(f"SELECT SUM(context_bytes) FROM calls WHERE {where}", args)[0][0] or 0)  # noqa: S608

    def spent(self, scope: Scope = Scope()) -> Decimal:
        where, args = scope.where()
        return from_pico(self._read(f"SELECT SUM(cost_pico) FROM calls WHERE {where}", args)[0][0])  # noqa: S608

    def calls(self, scope: Scope = Scope()) -> list[CallRecord]:
        where, args = scope.where()
        columns = (
            "run_id, item_id, attempt, purpose, tier, provider, model, input_tokens, output_tokens,"
            " cache_read_tokens, cache_write_tokens, cost_pico, latency_s, outcome, error, ts, id"
        )
        # ``where`` holds fixed column names only; every value is a bound parameter.
        sql = f"SELECT {columns} FROM calls WHERE {where} ORDER BY id"  # noqa: S608
        rows = self._read(sql, args)
        return [
            CallRecord(
                run_id=r[0],
                item_id=r[1],
                attempt=r[2],
                purpose=r[3],
                tier=r[4],
                provider=r[5],
                model=r[6],
                usage=Usage(r[7], r[8], r[9], r[10]),
                cost=from_pico(r[11]),
                latency_s=r[12],
                outcome=r[13],
                error=r[14],
                ts=r[15],
                id=r[16],
            )
            for r in rows
        ]

    def provider_usage(self, provider: str, *, since: float) -> list[tuple[float, int]]:
        """(time, tokens) of a provider's calls since ``since``: seeds quota windows across runs."""
        rows = self._read(
            "SELECT ts, input_tokens + output_tokens FROM calls WHERE provider = ? AND ts >= ? ORDER BY ts",
            [provider, since],
        )
        return [(r[0], r[1]) for r in rows]

    # -- attempts and routing history --------------------------------------------------------------
    def record_attempt(
        self,
        *,
        run_id: str,
        item_id: str,
        attempt: int,
        repo: str,
        kind: str,
        tier: str,
        verdict: str,
        cost: Decimal,
    ) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO attempts (ts, run_id, item_id, attempt, repo, kind, tier, verdict, cost_pico)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (self._clock(), run_id, item_id, attempt, repo, kind, tier, verdict, to_pico(cost)),
            )

    def history(self, *, repo: str, kind: str) -> dict[str, TierHistory]:
        rows = self._read(
            "SELECT tier, COUNT(*), SUM(verdict = 'passed'), SUM(cost_pico) FROM attempts"
            " WHERE repo = ? AND kind = ? GROUP BY tier",
            [repo, kind],
        )
        return {str(r[0]): TierHistory(r[1], r[2] or 0, from_pico(r[3])) for r in rows}
