"""The reservation service (step 1 of the reset, domain.md §1) and the kiosk step (step 2).

Every decision returns a Decision and is written as one JSON line to the decision log. Neither PINs nor My Numbers
ever reach this module's outputs: PINs are only passed to the card, and the log/decision fields are a fixed list.
"""

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import threading
import time

from facematch import verdict as fmv

from . import chain as _chain
from . import challenge as _challenge
from .card import PIN_AUTH, PIN_SIGN, MAX_TRIES, CardFailure
from .rules import KINDS, StoreTable, new_pin_ok

NONCE_BYTES = 32           # CSPRNG bytes per nonce (64 hex digits)
NONCE_TTL = 300            # a nonce is good for 5 minutes
RESERVATION_TTL = 86400    # a reservation is good for 24 hours
VERDICT_MAX_LIFETIME = 600

_HEX = re.compile(r"[0-9a-fA-F]{32,128}")

# Reason codes that mark a verdict as made for testing or demonstration, never for a real reset: a challenge fixed by
# the caller instead of derived from our nonce (fm_session_policy.test_actions), a session that only observed, a
# verdict signed without a session or without liveness. Refused unless the service runs with allow_testing_verdicts
# (tests only; the command line has no switch for it).
TESTING_REASONS = ("challenge_fixed_for_testing", "observe_only", "developer_signed_no_session",
                   "liveness_not_checked")


class Decision(dict):
    """{"ok": bool, "code": "...", "message": "...", ...}: a plain dict so it prints as JSON."""

    @property
    def ok(self):
        return self["ok"]

    @property
    def code(self):
        return self["code"]


class DecisionLog:
    """JSON lines, append-only, one line per decision, flushed and fsynced."""

    FIELDS = ("ok", "code", "message", "kind", "card", "reservation", "verdict", "store", "expires_at", "tries_left",
              "failed_check", "step")

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()

    def write(self, event, now, d):
        rec = {"ts": int(now), "event": event}
        rec.update({k: d[k] for k in self.FIELDS if k in d})
        line = json.dumps(rec, sort_keys=True) + "\n"
        if not self.path:
            return
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)


def _payload_nonce(token):
    """The nonce a token names (unverified; only to find the nonce record, the verifier then checks it)."""
    try:
        parts = token.split(".")
        if len(parts) != 3 or len(parts[1]) > 65536:
            return None
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        n = json.loads(raw).get("nonce")
    except (ValueError, binascii.Error, AttributeError, UnicodeDecodeError):
        return None
    return n.lower() if isinstance(n, str) and _HEX.fullmatch(n) else None


class ResetService:
    """engine_key: facematch.verdict.Key (the engine's public key); jpki_cas: CA certificates (PEM/DER bytes) the card
    certificates must chain to; store: a store.Store; clock: () -> Unix seconds (injectable for tests)."""

    def __init__(self, store, engine_key, jpki_cas, aud, log_path=None, stores=None, clock=time.time,
                 nonce_ttl=NONCE_TTL, reservation_ttl=RESERVATION_TTL, allow_testing_verdicts=False):
        if not aud or not isinstance(aud, str):
            raise ValueError("aud (the service's audience id) is required")
        if not jpki_cas:
            raise ValueError("at least one JPKI CA certificate is required (card certificates must chain to it)")
        self.store, self.aud, self.clock = store, aud, clock
        self.table = stores if isinstance(stores, StoreTable) else StoreTable(*(() if stores is None else (stores,)))
        self._ca_certs = [_chain.load(c) for c in jpki_cas]
        self.verifier = fmv.Verifier(engine_key, cas=jpki_cas, require_card=1, check_chain=1,
                                     max_lifetime=VERDICT_MAX_LIFETIME)
        self.log = DecisionLog(log_path)
        self.nonce_ttl, self.reservation_ttl = int(nonce_ttl), int(reservation_ttl)
        self.allow_testing_verdicts = bool(allow_testing_verdicts)

    def _decide(self, event, now, ok, code, message, **fields):
        d = Decision(ok=ok, code=code, message=message, **fields)
        self.log.write(event, now, d)
        return d

    # ---- step 1: nonce, verdict, reservation -----------------------------------------------------------------

    def issue_nonce(self, kind="sign"):
        now = int(self.clock())
        if kind not in KINDS:
            return self._decide("nonce", now, False, "KIND_INVALID", f"reset kind must be one of {', '.join(KINDS)}")
        nonce = secrets.token_hex(NONCE_BYTES)
        exp = now + self.nonce_ttl
        self.store.put_nonce(nonce, kind, now, exp)
        return self._decide("nonce", now, True, "NONCE_ISSUED", "nonce issued", nonce=nonce, aud=self.aud,
                            kind=kind, expires_at=exp)

    def submit_verdict(self, token):
        """A signing-PIN reset reservation from a signed verdict. Checks, in order: the nonce it names exists, is
        unexpired and unused (burnt now, atomically), the reset kind it was issued for needs a face verdict, the
        verdict verifies (alg allow-list, engine signature, nonce, audience, expiry, card signature, chain to the
        JPKI CA), it is not a testing verdict (TESTING_REASONS: e.g. a challenge fixed by the caller), the decision
        is "match", its challenge is the one derived from our nonce with every step met (challenge.check), the
        portrait came verified from the chip. Then the reservation (24 h)."""
        now = int(self.clock())
        ev = "reserve"
        if not isinstance(token, str) or not token or len(token) > 65536:
            return self._decide(ev, now, False, "VERDICT_MALFORMED", "no verdict token, or too long")
        nonce = _payload_nonce(token)
        if nonce is None:
            return self._decide(ev, now, False, "VERDICT_MALFORMED", "the token names no nonce of this service")
        state, kind = self.store.consume_nonce(nonce, now)
        if state != "ok":
            msg = {"unknown": "this service never issued the verdict's nonce",
                   "used": "the verdict's nonce was already used (replay)",
                   "expired": "the verdict's nonce expired before it was used: start again"}[state]
            return self._decide(ev, now, False, "NONCE_" + state.upper(), msg)
        if kind != "sign":
            return self._decide(ev, now, False, "KIND_NO_FACE_STEP",
                                "the nonce was issued for a user-authentication PIN reset, which takes no face verdict",
                                kind=kind)
        v = self.verifier.verify(token, nonce=nonce, aud=self.aud, now=now)
        jti = v.payload.get("jti") if isinstance(v.payload, dict) else None
        if not v.valid:
            return self._decide(ev, now, False, "VERDICT_" + v.failed_check.upper(),
                                f"verdict refused ({v.failed_check}): {v.detail}", failed_check=v.failed_check,
                                kind=kind, verdict=jti)
        r = v.raw
        card_fp = r.card_cert_sha256.decode()
        decision = fmv_decision_name(r.decision)
        reasons = v.payload.get("reasons") if isinstance(v.payload, dict) else None
        testing = sorted(set(reasons if isinstance(reasons, list) else []) & set(TESTING_REASONS))
        if testing and not self.allow_testing_verdicts:
            return self._decide(ev, now, False, "VERDICT_TESTING_ONLY",
                                f"the verdict was made for testing only ({', '.join(testing)}): not accepted for a "
                                "real reset", kind=kind, card=card_fp, verdict=jti)
        if decision != "match":
            return self._decide(ev, now, False, "DECISION_NOT_MATCH", f"the verdict's decision is {decision}",
                                kind=kind, card=card_fp, verdict=jti)
        why = None if self.allow_testing_verdicts else _challenge.check(v.payload, nonce)
        if why:
            return self._decide(ev, now, False, "VERDICT_CHALLENGE", why, kind=kind, card=card_fp, verdict=jti)
        if r.portrait_auth != 1:
            return self._decide(ev, now, False, "PORTRAIT_NOT_VERIFIED",
                                "the compared portrait was not verified as read from a genuine card chip",
                                kind=kind, card=card_fp, verdict=jti)
        if not re.fullmatch(r"[0-9a-f]{64}", card_fp) or not jti:
            return self._decide(ev, now, False, "VERDICT_MALFORMED", "no card binding or verdict id", kind=kind)
        rid = secrets.token_hex(16)
        exp = now + self.reservation_ttl
        if not self.store.add_reservation(rid, card_fp, kind, now, exp, "verdict:" + jti):
            return self._decide(ev, now, False, "VERDICT_REPLAYED", "this verdict was already used for a reservation",
                                kind=kind, card=card_fp, verdict=jti)
        return self._decide(ev, now, True, "RESERVED", "reservation recorded: reset at a store kiosk within 24 hours",
                            kind=kind, card=card_fp, reservation=rid, verdict=jti, expires_at=exp)

    def submit_auth_proof(self, nonce, auth_cert_der, sign_cert_der, signature):
        """A user-authentication-PIN reset reservation (no face step, domain.md §1): the phone had the card verify
        the signing PIN and sign auth_proof_digest(aud, nonce, SHA-256(auth certificate)) with the signing key.
        Checks: the nonce (burnt now) was issued for an auth reset; both certificates chain to a configured JPKI CA
        and are valid now; the signature verifies with the signing certificate's key. Limitation: nothing on the
        card ties its signing certificate to its authentication certificate, so this proves "the holder of A
        signing key with its PIN vouches for this auth certificate"; the kiosk still has the tapped card itself
        verify its signing PIN before any reset."""
        now = int(self.clock())
        ev = "reserve_auth"
        if not isinstance(nonce, str) or not _HEX.fullmatch(nonce):
            return self._decide(ev, now, False, "PROOF_MALFORMED", "nonce missing or not hex")
        state, kind = self.store.consume_nonce(nonce.lower(), now)
        if state != "ok":
            msg = {"unknown": "this service never issued this nonce", "used": "the nonce was already used (replay)",
                   "expired": "the nonce expired before it was used: start again"}[state]
            return self._decide(ev, now, False, "NONCE_" + state.upper(), msg)
        if kind != "auth":
            return self._decide(ev, now, False, "KIND_NEEDS_FACE",
                                "the nonce was issued for a signing-PIN reset, which needs a face verdict", kind=kind)
        try:
            auth = _chain.load(auth_cert_der)
            sign = _chain.load(sign_cert_der)
        except ValueError as e:
            return self._decide(ev, now, False, "PROOF_MALFORMED", str(e), kind=kind)
        card_fp = hashlib.sha256(auth_cert_der).hexdigest()
        for what, cert in (("authentication", auth), ("signing", sign)):
            why = _chain.check(cert, self._ca_certs, now)
            if why:
                return self._decide(ev, now, False, "PROOF_CHAIN", f"{what} certificate: {why}", kind=kind,
                                    card=card_fp)
        if not _chain.verify_digest(sign, auth_proof_digest(self.aud, nonce.lower(), card_fp), signature):
            return self._decide(ev, now, False, "PROOF_SIGNATURE",
                                "the signature does not verify with the signing certificate", kind=kind, card=card_fp)
        rid = secrets.token_hex(16)
        exp = now + self.reservation_ttl
        if not self.store.add_reservation(rid, card_fp, kind, now, exp, "authproof:" + nonce.lower()):
            return self._decide(ev, now, False, "VERDICT_REPLAYED", "this proof was already used", kind=kind)
        return self._decide(ev, now, True, "RESERVED", "reservation recorded: reset at a store kiosk within 24 hours",
                            kind=kind, card=card_fp, reservation=rid, expires_at=exp)

    # ---- step 2: the kiosk ---------------------------------------------------------------------------------------

    def kiosk_reset(self, card, chain, kind, other_pin, new_pin, admin_key):
        """The kiosk step with a tapped card (card.Card). other_pin: the PIN the holder still knows (auth PIN for a
        signing-PIN reset, signing PIN for an auth-PIN reset), verified by the card. Order: cheap rules first (kind,
        store, hours, new-PIN format, reservation present), so no PIN try is spent on a request that will be
        refused anyway; then the card verifies the other PIN; then the reservation is claimed atomically, the card's
        PIN reset (new PIN + retry counter restored), and the reservation consumed."""
        now = int(self.clock())
        ev = "kiosk"
        f = {"kind": kind, "store": chain}
        if kind not in KINDS:
            return self._decide(ev, now, False, "KIND_INVALID", f"reset kind must be one of {', '.join(KINDS)}",
                                store=chain)
        if chain not in self.table.chains:
            return self._decide(ev, now, False, "STORE_UNKNOWN", "this store chain is not in the store table", **f)
        if not self.table.supports(chain, kind):
            what = "signing-PIN" if kind == "sign" else "user-authentication-PIN"
            return self._decide(ev, now, False, "STORE_UNSUPPORTED",
                                f"{self.table.chains[chain]['name']} kiosks do not offer the {what} reset", **f)
        if not self.table.open_at(now):
            lt = self.table.local_time(now).strftime("%H:%M")
            return self._decide(ev, now, False, "OUTSIDE_HOURS",
                                f"kiosks accept resets from {self.table.open:%H:%M} to {self.table.close:%H:%M} "
                                f"(local time now {lt})", **f)
        ok, why = new_pin_ok(kind, new_pin)
        if not ok:
            return self._decide(ev, now, False, "NEW_PIN_FORMAT", why, **f)
        other = PIN_AUTH if kind == "sign" else PIN_SIGN
        ok, _ = new_pin_ok("auth" if other == PIN_AUTH else "sign", other_pin)
        if not ok:
            return self._decide(ev, now, False, "OTHER_PIN_FORMAT",
                                "the PIN you know has the wrong format (nothing was sent to the card)", **f)
        try:
            card_fp = hashlib.sha256(card.auth_cert()).hexdigest()
        except CardFailure as e:
            return self._decide(ev, now, False, "CARD_ERROR", f"could not read the card: {e.message}", **f)
        f["card"] = card_fp
        state, row = self.store.find_reservation(card_fp, kind, now)
        if state != "ok":
            msg = {"none": "no reservation for this card and reset kind: make one on the phone first",
                   "expired": "the reservation is older than 24 hours: make a new one on the phone",
                   "consumed": "the reservation was already used",
                   "claimed": "the reservation is being used by another kiosk"}[state]
            code = {"none": "RESERVATION_NONE", "expired": "RESERVATION_EXPIRED", "consumed": "RESERVATION_USED",
                    "claimed": "RESERVATION_BUSY"}[state]
            return self._decide(ev, now, False, code, msg, reservation=row["id"] if row else None, **f)
        f["reservation"] = row["id"]
        try:
            tries = card.verify_pin(other, other_pin)
        except CardFailure as e:
            code = {"FM_ERR_PIN_WRONG": "OTHER_PIN_WRONG", "FM_ERR_PIN_LOCKED": "OTHER_PIN_LOCKED",
                    "FM_ERR_PIN_LAST_TRY": "OTHER_PIN_LAST_TRY", "FM_ERR_PIN_FORMAT": "OTHER_PIN_FORMAT"}.get(
                        e.status, "CARD_ERROR")
            return self._decide(ev, now, False, code, f"the card refused: {e.message}", tries_left=e.tries, **f)
        if not self.store.claim_reservation(row["id"], now):
            return self._decide(ev, now, False, "RESERVATION_USED", "the reservation was used meanwhile", **f)
        target = PIN_SIGN if kind == "sign" else PIN_AUTH
        try:
            card.admin_reset_pin(target, new_pin, admin_key)
            tries_after = card.tries(target)
        except CardFailure as e:
            self.store.finish_reservation(row["id"], False, now)
            return self._decide(ev, now, False, "CARD_RESET_FAILED",
                                f"the card's PIN was not reset ({e.message}); the reservation stays valid", **f)
        self.store.finish_reservation(row["id"], True, now)
        if tries_after != MAX_TRIES[target]:
            return self._decide(ev, now, False, "CARD_RESET_FAILED",
                                f"the card reports {tries_after} tries after the reset", tries_left=tries_after, **f)
        return self._decide(ev, now, True, "PIN_RESET", "the PIN was reset and its retry counter restored",
                            tries_left=tries_after, **f)


def auth_proof_digest(aud, nonce_hex, auth_cert_sha256_hex):
    """What the card's signing key signs for an auth-PIN reset reservation (SHA-256, 32 bytes)."""
    return hashlib.sha256(b"fmreset-auth-reset-v1\0" + aud.encode() + b"\0" + nonce_hex.lower().encode() + b"\0"
                          + auth_cert_sha256_hex.encode()).digest()


def fmv_decision_name(d):
    return {1: "match", 2: "no_match", 3: "spoof_suspected", 4: "inconclusive"}.get(d, "unknown")
