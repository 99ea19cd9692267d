"""Storage of the reservation service: a narrow interface (class Store) and its SQLite implementation.

Everything the service persists goes through the seven methods of Store, each one short transaction, so another
backend (PostgreSQL for scale: the same two tables, `UPDATE ... WHERE state = 'active' AND expires_at > %s` for the
atomic steps, READ COMMITTED is enough because every state change is a single conditional UPDATE) only has to
implement them. Times are integer Unix seconds given by the caller (the service's injectable clock): the store never
reads the clock itself.

SQLite: one file, WAL journal (readers never block the writer), synchronous=FULL. FULL, not NORMAL: in WAL mode
NORMAL may lose the last committed transactions on power loss. A lost "nonce used" or "reservation consumed" would
re-open a replay or a double reset, so every commit the service reports is synced. Every read-modify-write runs in
BEGIN IMMEDIATE (the write lock is taken before reading), and every state change is one conditional UPDATE whose
row count says whether this caller won: two kiosks racing for one reservation cannot both consume it. A crash in the
middle of a transaction is rolled back by SQLite on the next open, so a reservation is either fully written or absent.
"""

import sqlite3
import threading

SCHEMA = """
CREATE TABLE IF NOT EXISTS nonces (
    nonce       TEXT PRIMARY KEY,            -- lowercase hex, 32 bytes of CSPRNG output
    kind        TEXT NOT NULL,               -- reset kind the nonce was issued for: 'sign' or 'auth'
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER                      -- NULL until the first submission that names it
);
CREATE TABLE IF NOT EXISTS reservations (
    id          TEXT PRIMARY KEY,            -- random hex
    card_fp     TEXT NOT NULL,               -- SHA-256 (hex) of the card's JPKI authentication certificate (DER)
    kind        TEXT NOT NULL,               -- 'sign' or 'auth'
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,            -- created_at + 24 h
    state       TEXT NOT NULL,               -- 'active', 'claimed' (kiosk resetting), 'consumed', 'superseded'
    proof_id    TEXT NOT NULL UNIQUE,        -- verdict jti (or the nonce of an auth-kind proof): one reservation each
    updated_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_card ON reservations (card_fp, kind, state);
"""


class Store:
    """The storage interface (what a PostgreSQL backend would implement)."""

    def put_nonce(self, nonce, kind, issued_at, expires_at):
        raise NotImplementedError

    def consume_nonce(self, nonce, now):
        """Atomically marks an unused, unexpired nonce used. Returns ("ok", kind) or (reason, None) with reason
        'unknown', 'used' or 'expired'. Any submission naming a nonce burns it, valid or not."""
        raise NotImplementedError

    def add_reservation(self, rid, card_fp, kind, created_at, expires_at, proof_id):
        """Records an active reservation; an older active one for the same card and kind becomes 'superseded'.
        Returns False if proof_id was already used (a replayed verdict)."""
        raise NotImplementedError

    def find_reservation(self, card_fp, kind, now):
        """("ok", row) for the active unexpired reservation, else (reason, row_or_None) with reason 'none',
        'expired', 'consumed' or 'claimed'. row: dict with id, card_fp, kind, created_at, expires_at, state."""
        raise NotImplementedError

    def claim_reservation(self, rid, now):
        """active and unexpired -> claimed, atomically. True if this caller won."""
        raise NotImplementedError

    def finish_reservation(self, rid, consumed, now):
        """claimed -> consumed (consumed=True) or back to active (the card reset failed)."""
        raise NotImplementedError

    def purge(self, now, keep_seconds=7 * 86400):
        """Deletes nonces and finished reservations older than keep_seconds."""
        raise NotImplementedError


class SQLiteStore(Store):
    def __init__(self, path):
        self.path = str(path)
        self._lock = threading.Lock()  # one connection shared by the HTTP server's threads
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise RuntimeError(f"{self.path}: could not switch to WAL mode (got {mode})")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self):
        with self._lock:
            self._db.close()

    def pragma(self, name):
        with self._lock:
            return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def _tx(self, fn):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                r = fn(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return r

    def put_nonce(self, nonce, kind, issued_at, expires_at):
        self._tx(lambda db: db.execute("INSERT INTO nonces (nonce, kind, issued_at, expires_at) VALUES (?,?,?,?)",
                                       (nonce, kind, int(issued_at), int(expires_at))))

    def consume_nonce(self, nonce, now):
        def f(db):
            cur = db.execute("UPDATE nonces SET used_at = ? WHERE nonce = ? AND used_at IS NULL AND expires_at > ?",
                             (int(now), nonce, int(now)))
            row = db.execute("SELECT kind, expires_at, used_at FROM nonces WHERE nonce = ?", (nonce,)).fetchone()
            if cur.rowcount == 1:
                return "ok", row[0]
            if row is None:
                return "unknown", None
            if row[2] is not None:
                return "used", None
            # expired: burn it too, so it can never be accepted later (e.g. after a clock step back)
            db.execute("UPDATE nonces SET used_at = ? WHERE nonce = ?", (int(now), nonce))
            return "expired", None
        return self._tx(f)

    def add_reservation(self, rid, card_fp, kind, created_at, expires_at, proof_id):
        def f(db):
            if db.execute("SELECT 1 FROM reservations WHERE proof_id = ?", (proof_id,)).fetchone():
                return False
            db.execute("UPDATE reservations SET state = 'superseded', updated_at = ? "
                       "WHERE card_fp = ? AND kind = ? AND state = 'active'", (int(created_at), card_fp, kind))
            db.execute("INSERT INTO reservations (id, card_fp, kind, created_at, expires_at, state, proof_id, "
                       "updated_at) VALUES (?,?,?,?,?, 'active', ?, ?)",
                       (rid, card_fp, kind, int(created_at), int(expires_at), proof_id, int(created_at)))
            return True
        return self._tx(f)

    def find_reservation(self, card_fp, kind, now):
        cols = ("id", "card_fp", "kind", "created_at", "expires_at", "state")

        def f(db):
            rows = db.execute("SELECT id, card_fp, kind, created_at, expires_at, state FROM reservations "
                              "WHERE card_fp = ? AND kind = ? AND state != 'superseded' "
                              "ORDER BY created_at DESC, rowid DESC LIMIT 1", (card_fp, kind)).fetchall()
            if not rows:
                return "none", None
            row = dict(zip(cols, rows[0]))
            if row["state"] in ("consumed", "claimed"):
                return row["state"], row
            if row["expires_at"] <= int(now):
                return "expired", row
            return "ok", row
        return self._tx(f)

    def claim_reservation(self, rid, now):
        return self._tx(lambda db: db.execute(
            "UPDATE reservations SET state = 'claimed', updated_at = ? WHERE id = ? AND state = 'active' "
            "AND expires_at > ?", (int(now), rid, int(now))).rowcount == 1)

    def finish_reservation(self, rid, consumed, now):
        new = "consumed" if consumed else "active"
        return self._tx(lambda db: db.execute(
            "UPDATE reservations SET state = ?, updated_at = ? WHERE id = ? AND state = 'claimed'",
            (new, int(now), rid)).rowcount == 1)

    def purge(self, now, keep_seconds=7 * 86400):
        cut = int(now) - int(keep_seconds)

        def f(db):
            db.execute("DELETE FROM nonces WHERE expires_at < ?", (cut,))
            db.execute("DELETE FROM reservations WHERE expires_at < ? AND state != 'claimed'", (cut,))
        self._tx(f)


class MemoryStore(Store):
    """A second implementation of the Store interface, in memory (not durable: tests, and the proof that the service
    needs nothing beyond the seven methods). One lock makes each method atomic, as one transaction would."""

    def __init__(self):
        self._lock = threading.Lock()
        self._nonces = {}        # nonce -> dict(kind, issued_at, expires_at, used_at)
        self._res = []           # reservation dicts in insertion order
        self._proofs = set()

    def put_nonce(self, nonce, kind, issued_at, expires_at):
        with self._lock:
            if nonce in self._nonces:
                raise ValueError("nonce already stored")  # as the PRIMARY KEY of the SQL table
            self._nonces[nonce] = {"kind": kind, "issued_at": int(issued_at), "expires_at": int(expires_at),
                                   "used_at": None}

    def consume_nonce(self, nonce, now):
        with self._lock:
            n = self._nonces.get(nonce)
            if n is None:
                return "unknown", None
            if n["used_at"] is not None:
                return "used", None
            n["used_at"] = int(now)  # burnt whether it was still valid or not
            if n["expires_at"] <= int(now):
                return "expired", None
            return "ok", n["kind"]

    def add_reservation(self, rid, card_fp, kind, created_at, expires_at, proof_id):
        with self._lock:
            if proof_id in self._proofs:
                return False
            for r in self._res:
                if r["card_fp"] == card_fp and r["kind"] == kind and r["state"] == "active":
                    r["state"], r["updated_at"] = "superseded", int(created_at)
            self._proofs.add(proof_id)
            self._res.append({"id": rid, "card_fp": card_fp, "kind": kind, "created_at": int(created_at),
                              "expires_at": int(expires_at), "state": "active", "proof_id": proof_id,
                              "updated_at": int(created_at)})
            return True

    def find_reservation(self, card_fp, kind, now):
        cols = ("id", "card_fp", "kind", "created_at", "expires_at", "state")
        with self._lock:
            rows = [r for r in self._res if r["card_fp"] == card_fp and r["kind"] == kind
                    and r["state"] != "superseded"]
            if not rows:
                return "none", None
            latest = max(enumerate(rows), key=lambda ir: (ir[1]["created_at"], ir[0]))[1]
            row = {k: latest[k] for k in cols}
            if row["state"] in ("consumed", "claimed"):
                return row["state"], row
            if row["expires_at"] <= int(now):
                return "expired", row
            return "ok", row

    def claim_reservation(self, rid, now):
        with self._lock:
            for r in self._res:
                if r["id"] == rid and r["state"] == "active" and r["expires_at"] > int(now):
                    r["state"], r["updated_at"] = "claimed", int(now)
                    return True
            return False

    def finish_reservation(self, rid, consumed, now):
        with self._lock:
            for r in self._res:
                if r["id"] == rid and r["state"] == "claimed":
                    r["state"], r["updated_at"] = ("consumed" if consumed else "active"), int(now)
                    return True
            return False

    def purge(self, now, keep_seconds=7 * 86400):
        cut = int(now) - int(keep_seconds)
        with self._lock:
            self._nonces = {k: v for k, v in self._nonces.items() if v["expires_at"] >= cut}
            self._res = [r for r in self._res if r["expires_at"] >= cut or r["state"] == "claimed"]
