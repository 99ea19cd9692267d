"""The reset rules as data and pure functions: store chains and kiosk hours (stores.json), PIN formats (domain.md §1)."""

import datetime
import json
import os
import re
import zoneinfo

KINDS = ("sign", "auth")  # signing-certificate PIN reset / user-authentication PIN reset
DEFAULT_STORES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "stores.json")

_SIGN_PIN = re.compile(r"[A-Z0-9]{6,16}")
_AUTH_PIN = re.compile(r"[0-9]{4}")


def new_pin_ok(kind, pin):
    """(ok, message). signing: 6-16 of A-Z 0-9 with at least one letter and one digit; auth: exactly 4 digits."""
    if not isinstance(pin, str):
        return False, "new PIN missing"
    if kind == "sign":
        if not _SIGN_PIN.fullmatch(pin):
            return False, "a signing PIN is 6 to 16 characters of A-Z and 0-9"
        if not any(c.isalpha() for c in pin) or not any(c.isdigit() for c in pin):
            return False, "a signing PIN needs at least one letter and one digit"
        return True, ""
    if kind == "auth":
        if not _AUTH_PIN.fullmatch(pin):
            return False, "a user-authentication PIN is exactly 4 digits"
        return True, ""
    return False, "unknown reset kind"


class StoreTable:
    """Which chains reset which PIN, and the kiosk hours, loaded from stores.json."""

    def __init__(self, path=DEFAULT_STORES):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        self.chains = {}
        for cid, c in d["chains"].items():
            kinds = c["kinds"]
            if not kinds or any(k not in KINDS for k in kinds):
                raise ValueError(f"{path}: chain {cid}: kinds must be a non-empty subset of {KINDS}")
            self.chains[cid] = {"name": c.get("name", cid), "kinds": tuple(kinds)}
        h = d["hours"]
        self.open = datetime.time.fromisoformat(h["open"])
        self.close = datetime.time.fromisoformat(h["close"])
        self.tz = zoneinfo.ZoneInfo(h["timezone"])

    def supports(self, chain, kind):
        c = self.chains.get(chain)
        return c is not None and kind in c["kinds"]

    def local_time(self, now):
        return datetime.datetime.fromtimestamp(now, tz=self.tz)

    def open_at(self, now):
        """True when the local time (the table's time zone) is in [open, close)."""
        t = self.local_time(now).time()
        return self.open <= t < self.close
