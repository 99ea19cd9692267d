"""The reservation service without a card: storage (SQLite WAL + FULL, atomic single use under races, crash-safe
transactions), nonces, PIN rules, kiosk hours and the store table as data. The card flow is in test_flow_pcsc.py."""

import datetime
import json
import os
import sqlite3
import sys
import threading
import zoneinfo

import pytest

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "service"))

from fmreset import rules  # noqa: E402
from fmreset.store import MemoryStore, SQLiteStore, Store  # noqa: E402

JST = zoneinfo.ZoneInfo("Asia/Tokyo")


def jst(y, mo, d, h, mi, s=0):
    return int(datetime.datetime(y, mo, d, h, mi, s, tzinfo=JST).timestamp())


@pytest.fixture(params=["sqlite", "memory"])
def store(request, tmp_path):
    """Every interface test runs on both implementations of store.Store: SQLite (the default) and the in-memory
    one (a second backend, as PostgreSQL would be: the service needs nothing beyond the Store methods)."""
    if request.param == "memory":
        yield MemoryStore()
        return
    s = SQLiteStore(tmp_path / "r.db")
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path):
    s = SQLiteStore(tmp_path / "r.db")
    yield s
    s.close()


def test_store_interface_is_seven_methods():
    """The README's storage table lists exactly these; both backends implement each one (no NotImplementedError)."""
    methods = sorted(n for n, v in vars(Store).items() if callable(v) and not n.startswith("_"))
    assert methods == sorted(["put_nonce", "consume_nonce", "add_reservation", "find_reservation",
                              "claim_reservation", "finish_reservation", "purge"])
    for cls in (SQLiteStore, MemoryStore):
        for m in methods:
            assert getattr(cls, m) is not getattr(Store, m), (cls.__name__, m)


def test_purge_keeps_what_is_live(store):
    store.put_nonce("a1" * 32, "sign", 0, 300)
    store.put_nonce("a2" * 32, "sign", 900000, 900300)
    store.add_reservation("old", "1" * 64, "sign", 0, 86400, "verdict:o")
    store.add_reservation("cl", "2" * 64, "sign", 0, 86400, "verdict:c")
    assert store.claim_reservation("cl", 10)
    store.add_reservation("new", "3" * 64, "sign", 900000, 986400, "verdict:n")
    store.purge(900000 + 7 * 86400 - 1000, keep_seconds=7 * 86400)
    assert store.consume_nonce("a1" * 32, 900010) == ("unknown", None)   # purged
    assert store.consume_nonce("a2" * 32, 900010) == ("ok", "sign")      # kept
    assert store.find_reservation("1" * 64, "sign", 900010) == ("none", None)
    assert store.find_reservation("2" * 64, "sign", 900010)[0] == "claimed"  # a kiosk may still be busy with it
    assert store.find_reservation("3" * 64, "sign", 900010)[0] == "ok"


def test_sqlite_is_wal_and_full_sync(sqlite_store, tmp_path):
    store = sqlite_store
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 2  # FULL
    assert (tmp_path / "r.db").exists()


def test_nonce_single_use_and_expiry(store):
    store.put_nonce("aa" * 32, "sign", 1000, 1300)
    assert store.consume_nonce("bb" * 32, 1001) == ("unknown", None)
    assert store.consume_nonce("aa" * 32, 1001) == ("ok", "sign")
    assert store.consume_nonce("aa" * 32, 1002) == ("used", None)
    store.put_nonce("cc" * 32, "auth", 1000, 1300)
    assert store.consume_nonce("cc" * 32, 1300) == ("expired", None)
    # an expired nonce is burnt: even a clock stepped back cannot revive it
    assert store.consume_nonce("cc" * 32, 1100) == ("used", None)


def test_reservation_lifecycle(store):
    assert store.find_reservation("f" * 64, "sign", 10) == ("none", None)
    assert store.add_reservation("r1", "f" * 64, "sign", 10, 10 + 86400, "verdict:j1")
    assert not store.add_reservation("r2", "f" * 64, "sign", 11, 11 + 86400, "verdict:j1")  # same proof
    state, row = store.find_reservation("f" * 64, "sign", 20)
    assert state == "ok" and row["id"] == "r1"
    assert store.find_reservation("f" * 64, "auth", 20)[0] == "none"
    assert store.find_reservation("f" * 64, "sign", 10 + 86400)[0] == "expired"
    assert not store.claim_reservation("r1", 10 + 86400)  # expired cannot be claimed
    assert store.claim_reservation("r1", 30)
    assert store.find_reservation("f" * 64, "sign", 31)[0] == "claimed"
    assert not store.claim_reservation("r1", 31)
    assert store.finish_reservation("r1", False, 32)  # card failed: back to active
    assert store.claim_reservation("r1", 33) and store.finish_reservation("r1", True, 34)
    assert store.find_reservation("f" * 64, "sign", 35)[0] == "consumed"
    assert not store.claim_reservation("r1", 36)


def test_new_reservation_supersedes_older(store):
    store.add_reservation("old", "e" * 64, "sign", 10, 10 + 86400, "verdict:a")
    store.add_reservation("new", "e" * 64, "sign", 20, 20 + 86400, "verdict:b")
    state, row = store.find_reservation("e" * 64, "sign", 30)
    assert state == "ok" and row["id"] == "new"
    assert not store.claim_reservation("old", 30)


def test_concurrent_claims_have_one_winner(tmp_path):
    """Eight connections (as eight kiosk processes would) race for one reservation and one nonce."""
    path = tmp_path / "race.db"
    s0 = SQLiteStore(path)
    s0.add_reservation("r", "d" * 64, "sign", 10, 10 + 86400, "verdict:x")
    s0.put_nonce("ab" * 32, "sign", 10, 310)
    stores = [SQLiteStore(path) for _ in range(8)]
    claims, nonces = [], []
    barrier = threading.Barrier(8)

    def work(s):
        barrier.wait()
        claims.append(s.claim_reservation("r", 20))
        nonces.append(s.consume_nonce("ab" * 32, 20)[0])
    ts = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(claims) == [False] * 7 + [True]
    assert sorted(nonces) == ["ok"] + ["used"] * 7
    for s in stores + [s0]:
        s.close()


def test_failed_transaction_leaves_nothing(sqlite_store, tmp_path):
    """A transaction that dies half-way (here: the second INSERT violates the schema) is rolled back entirely."""
    store = sqlite_store
    def half(db):
        db.execute("INSERT INTO reservations (id, card_fp, kind, created_at, expires_at, state, proof_id, updated_at)"
                   " VALUES ('h', 'c', 'sign', 1, 2, 'active', 'p', 1)")
        db.execute("INSERT INTO reservations (id) VALUES ('broken')")  # NOT NULL constraint fails
    with pytest.raises(sqlite3.IntegrityError):
        store._tx(half)
    assert store.find_reservation("c", "sign", 1) == ("none", None)
    # and a second connection sees the same (nothing committed)
    other = sqlite3.connect(tmp_path / "r.db")
    assert other.execute("SELECT count(*) FROM reservations").fetchone()[0] == 0
    other.close()


@pytest.mark.parametrize("pin,ok", [("ABC123", True), ("A1B2C3D4E5F6G7H8", True), ("ABC12", False),
                                    ("A1B2C3D4E5F6G7H8I", False), ("ABCDEF", False), ("123456", False),
                                    ("abc123", False), ("ABC 123", False), ("ABC-123", False), ("ＡBC123", False)])
def test_signing_pin_rules(pin, ok):
    assert rules.new_pin_ok("sign", pin)[0] is ok


@pytest.mark.parametrize("pin,ok", [("0000", True), ("4721", True), ("472", False), ("47211", False),
                                    ("47a1", False), ("٤٧٢١", False), ("", False)])
def test_auth_pin_rules(pin, ok):
    assert rules.new_pin_ok("auth", pin)[0] is ok


def test_kiosk_hours_boundaries():
    t = rules.StoreTable()
    assert not t.open_at(jst(2026, 11, 23, 6, 29, 59))
    assert t.open_at(jst(2026, 11, 23, 6, 30, 0))
    assert t.open_at(jst(2026, 11, 23, 22, 59, 59))
    assert not t.open_at(jst(2026, 11, 23, 23, 0, 0))
    assert not t.open_at(jst(2026, 11, 23, 3, 0, 0))
    # local time is the table's time zone, not the machine's: 01:00 UTC is 10:00 in Tokyo
    assert t.open_at(int(datetime.datetime(2026, 11, 23, 1, 0, tzinfo=datetime.timezone.utc).timestamp()))


def test_store_table_is_the_domain_table():
    """domain.md §1: signing-PIN reset at 7-Eleven, Lawson, FamilyMart, Ministop and some AEON stores; user-auth-PIN
    reset only at 7-Eleven, AEON Retail (and a few others)."""
    t = rules.StoreTable()
    sign = {c for c in t.chains if t.supports(c, "sign")}
    auth = {c for c in t.chains if t.supports(c, "auth")}
    assert sign == {"seven-eleven", "lawson", "familymart", "ministop", "aeon-retail"}
    assert auth == {"seven-eleven", "aeon-retail"}
    assert not t.supports("lawson", "auth") and not t.supports("nowhere", "sign")


def test_store_table_rejects_bad_data(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"chains": {"x": {"kinds": ["resident"]}},
                             "hours": {"open": "06:30", "close": "23:00", "timezone": "Asia/Tokyo"}}))
    with pytest.raises(ValueError):
        rules.StoreTable(str(p))


def test_service_challenge_derivation_matches_the_library():
    """fmreset.challenge (the service's recomputation, Python hmac) against the C fm_challenge_derive (through the
    binding's facematch.session.derive_challenge)."""
    import random
    from fmreset import challenge
    path = os.environ.get("FACEMATCH_LIB")
    if not path or not os.path.exists(path):
        pytest.skip(f"libfacematch not built at {path}")
    from facematch import session as fms
    rnd = random.Random(7)
    for n in [8, 16, 32, 64] + [32] * 500:
        nonce = bytes(rnd.randrange(256) for _ in range(n))
        steps = fms.derive_challenge(nonce)
        assert challenge.derive(nonce) == (tuple(s.action for s in steps), tuple(s.window_ms for s in steps))
    with pytest.raises(ValueError):
        challenge.derive(b"short")
