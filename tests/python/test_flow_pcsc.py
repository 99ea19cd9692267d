"""The reset flow through the real stack: the reservation service (fmreset, SQLite), our verdict verifier
(libfacematch through ctypes), and the virtual My Number card behind a private pcscd + vsmartcard vpcd, reached
through libfacematch's PC/SC transport. Verdicts are signed with the engine key and bound to the card by the card's
own JPKI authentication key over PC/SC (auth PIN verified by the card). Skips when pcscd/vpcd cannot run here.

The module shares one card; tests run in file order and track the card's current PINs in CARD_PINS.
"""

import datetime
import hashlib
import json
import os
import subprocess
import sys
import zoneinfo

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.x509.oid import NameOID

from conftest import REPO
from pcsc_fixture import start_stack, stop_stack

sys.path.insert(0, os.path.join(REPO, "service"))

from facematch import verdict as fmv  # noqa: E402
from fmreset import challenge as fmchallenge  # noqa: E402
from fmreset.card import PIN_AUTH, PIN_SIGN, Card, PcscTransport  # noqa: E402
from fmreset.service import ResetService, auth_proof_digest  # noqa: E402
from fmreset.store import SQLiteStore  # noqa: E402

JST = zoneinfo.ZoneInfo("Asia/Tokyo")
AUD = "https://reset.example.jp/v1"
MY_NUMBER = "123456789018"
CARD_PINS = {"auth": "4721", "sign": "ABC12345"}
SECRETS = {"4721", "ABC12345", MY_NUMBER, "55021720352285"}  # every PIN this module ever uses is added below


def jst(h, mi, day=23):
    return int(datetime.datetime(2026, 11, day, h, mi, tzinfo=JST).timestamp())


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


class SoftCard:
    """A second card from another (trusted) JPKI test CA, in software: for 'a verdict from a different card'."""

    def __init__(self, name, issuer=None):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        ikey = issuer.key if issuer else self.key
        iname = issuer.cert.subject if issuer else subj
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateBuilder().subject_name(subj).issuer_name(iname).public_key(self.key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=400))
             .not_valid_after(now + datetime.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True))
        if issuer is None:
            b = b.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                                              key_cert_sign=True, crl_sign=True, encipher_only=False,
                                              decipher_only=False), critical=True)
        self.cert = b.sign(ikey, hashes.SHA256())
        self.der = self.cert.public_bytes(serialization.Encoding.DER)
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def sign_digest(self, digest):
        return self.key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("flow")
    st = start_stack(d, {"name": "TEST HOLDER", "birth_date": "1980-02-17", "sex": "2", "expiry": "2035-02-17",
                         "security_code": "2285", "auth_pin": CARD_PINS["auth"], "sign_pin": CARD_PINS["sign"],
                         "my_number": MY_NUMBER})
    try:
        e = type("Env", (), {})()
        e.stack, e.dir = st, d
        e.engine = fmv.Key.generate("ES256")
        (d / "engine.pub").write_text(e.engine.public_pem())
        e.soft_ca = SoftCard("second test JPKI CA")
        e.card_b = SoftCard("card B", e.soft_ca)
        e.rogue = SoftCard("rogue card", SoftCard("rogue CA"))
        (d / "soft-ca.pem").write_bytes(e.soft_ca.pem)
        e.cas = [(st.ca / "jpki-ca.pem").read_bytes(), e.soft_ca.pem]
        e.admin_key = bytes.fromhex((st.ca / "admin-key.hex").read_text().strip())
        e.log = d / "decisions.jsonl"
        e.outputs = []  # every decision returned, to grep for secrets at the end
        e.clock = Clock(jst(10, 0))
        e.svc = ResetService(SQLiteStore(d / "reset.db"), e.engine, e.cas, AUD, log_path=str(e.log), clock=e.clock)
        yield e
    finally:
        stop_stack(st)


def open_card():
    t = PcscTransport(None, timeout_ms=3000)
    return t, Card(t)


def close_card(t, c):
    c.close()
    t.close()


def met_challenge(nonce_hex, met=True, actions=None):
    """liveness.challenge as a session that asked the nonce-derived challenge (or `actions`) reports it."""
    acts, wins = fmchallenge.derive(bytes.fromhex(nonce_hex))
    acts = actions or acts
    out, t = [], 0.5
    for k, a in enumerate(acts):
        w = wins[k] / 1000 if k < len(wins) else 4.0
        out.append({"action": a, "asked_at": t, "deadline": t + w, "met": met, "met_at": t + 1.0 if met else None})
        t += 1.0
    return {"checks": [], "challenge": out}


def description(nonce, iat, **over):
    d = {"aud": AUD, "nonce": nonce, "iat": iat, "lifetime": 120, "decision": "match",
         "reasons": ["distance_below_threshold"], "liveness": met_challenge(nonce),
         "match": {"distance": 0.41, "similarity": 0.59, "threshold": 0.6, "fmr": 0.0001, "metric": "l2"},
         "portrait": {"sha256": hashlib.sha256(b"portrait").hexdigest(), "auth": "verified"}}
    d.update(over)
    return d


def phone_verdict(env, nonce, key=None, **over):
    """Step 1 on the phone: the card verifies the auth PIN, and its JPKI auth key binds the verdict (over PC/SC)."""
    t, c = open_card()
    try:
        cert = c.auth_cert()
        c.verify_pin(PIN_AUTH, CARD_PINS["auth"])
        iat = over.pop("iat", env.clock())
        return fmv.sign_json(key or env.engine, description(nonce, iat, **over), card_cert=cert,
                             card_signer=c.sign_auth)
    finally:
        close_card(t, c)


def nonce(env, kind="sign"):
    d = env.svc.issue_nonce(kind)
    env.outputs.append(d)
    assert d.ok and d["aud"] == AUD and len(d["nonce"]) == 64
    return d["nonce"]


def reserve(env, token):
    d = env.svc.submit_verdict(token)
    env.outputs.append(d)
    return d


def kiosk(env, chain="seven-eleven", kind="sign", other=None, new="NEWPIN42", admin_key=None):
    if other is None:
        other = CARD_PINS["auth" if kind == "sign" else "sign"]
    SECRETS.update({other, new})
    t, c = open_card()
    try:
        d = env.svc.kiosk_reset(c, chain, kind, other, new, admin_key or env.admin_key)
    finally:
        close_card(t, c)
    env.outputs.append(d)
    if d.ok:
        CARD_PINS["sign" if kind == "sign" else "auth"] = new
    return d


def tries():
    t, c = open_card()
    try:
        return c.tries(PIN_AUTH), c.tries(PIN_SIGN)
    finally:
        close_card(t, c)


def card_fp(env):
    t, c = open_card()
    try:
        return hashlib.sha256(c.auth_cert()).hexdigest()
    finally:
        close_card(t, c)


# ---- step 1 ----------------------------------------------------------------------------------------------------------

def test_nonces_are_random_and_distinct(env):
    ns = {nonce(env) for _ in range(20)}
    assert len(ns) == 20 and all(len(n) == 64 and int(n, 16) >= 0 for n in ns)


def test_reservation_then_kiosk_reset_sign_pin(env):
    env.clock.t = jst(10, 0)
    tok = phone_verdict(env, nonce(env))
    d = reserve(env, tok)
    assert d.ok and d.code == "RESERVED", d
    assert d["card"] == card_fp(env) and d["kind"] == "sign" and d["expires_at"] == env.clock.t + 86400
    # spend one signing-PIN try so that the reset visibly restores the counter
    t, c = open_card()
    try:
        with pytest.raises(Exception):
            c.verify_pin(PIN_SIGN, "WRONG999")
    finally:
        close_card(t, c)
    SECRETS.add("WRONG999")
    assert tries() == (3, 4)
    env.clock.t = jst(18, 0)
    d = kiosk(env, new="NEWPIN42")
    assert d.ok and d.code == "PIN_RESET" and d["tries_left"] == 5, d
    assert tries() == (3, 5)
    # the card now takes the new signing PIN (and the old one is gone: checked through the card, one try)
    t, c = open_card()
    try:
        assert c.verify_pin(PIN_SIGN, "NEWPIN42") == 5
    finally:
        close_card(t, c)
    env.token_used = tok


def test_replayed_verdict_refused(env):
    d = reserve(env, env.token_used)
    assert not d.ok and d.code == "NONCE_USED", d


def test_double_use_of_reservation_refused(env):
    d = kiosk(env, new="OTHER777")
    assert not d.ok and d.code == "RESERVATION_USED", d
    assert CARD_PINS["sign"] == "NEWPIN42"


def test_unknown_nonce_refused(env):
    tok = phone_verdict(env, "ab" * 32)
    d = reserve(env, tok)
    assert not d.ok and d.code == "NONCE_UNKNOWN"


def test_expired_nonce_refused(env):
    env.clock.t = jst(10, 0)
    n = nonce(env)
    env.clock.t += 301
    d = reserve(env, phone_verdict(env, n))
    assert not d.ok and d.code == "NONCE_EXPIRED", d


def test_expired_verdict_refused(env):
    env.clock.t = jst(10, 0)
    n = nonce(env)
    tok = phone_verdict(env, n, iat=env.clock.t - 200, lifetime=120)
    d = reserve(env, tok)
    assert not d.ok and d.code == "VERDICT_EXPIRED", d


def test_forged_verdict_other_engine_key_refused(env):
    d = reserve(env, phone_verdict(env, nonce(env), key=fmv.Key.generate("ES256")))
    assert not d.ok and d.code == "VERDICT_SIGNATURE", d


def test_wrong_audience_refused(env):
    d = reserve(env, phone_verdict(env, nonce(env), aud="https://other-service.example/"))
    assert not d.ok and d.code == "VERDICT_AUD", d


@pytest.mark.parametrize("decision", ["no_match", "spoof_suspected", "inconclusive"])
def test_decision_other_than_match_refused(env, decision):
    d = reserve(env, phone_verdict(env, nonce(env), decision=decision, reasons=["x"]))
    assert not d.ok and d.code == "DECISION_NOT_MATCH", d


@pytest.mark.parametrize("reason", ["challenge_fixed_for_testing", "observe_only", "developer_signed_no_session",
                                    "liveness_not_checked"])
def test_testing_verdict_refused(env, reason):
    """A verdict the session made with a caller-fixed challenge (policy.test_actions) — or any other testing-only
    verdict — is refused even with decision match, a valid signature and card binding."""
    d = reserve(env, phone_verdict(env, nonce(env), reasons=["distance_below_threshold", reason]))
    assert not d.ok and d.code == "VERDICT_TESTING_ONLY" and reason in d["message"], d


def test_challenge_not_derived_from_our_nonce_refused(env):
    """Even without the testing reason: the service recomputes the challenge from its nonce."""
    n = nonce(env)
    want, _ = fmchallenge.derive(bytes.fromhex(n))
    other = tuple(a for a in fmchallenge.ACTIONS if a not in want)[:1] + want[1:]
    d = reserve(env, phone_verdict(env, n, liveness=met_challenge(n, actions=other)))
    assert not d.ok and d.code == "VERDICT_CHALLENGE" and "not the one derived" in d["message"], d
    n = nonce(env)
    d = reserve(env, phone_verdict(env, n, liveness=met_challenge(n, met=False)))
    assert not d.ok and d.code == "VERDICT_CHALLENGE" and "not met" in d["message"], d
    n = nonce(env)
    d = reserve(env, phone_verdict(env, n, liveness={"checks": [], "challenge": []}))
    assert not d.ok and d.code == "VERDICT_CHALLENGE" and "no challenge" in d["message"], d


def test_portrait_not_from_chip_refused(env):
    d = reserve(env, phone_verdict(env, nonce(env), portrait={"sha256": "00" * 32, "auth": "unverifiable"}))
    assert not d.ok and d.code == "PORTRAIT_NOT_VERIFIED", d


def test_card_from_untrusted_ca_refused(env):
    tok = fmv.sign_json(env.engine, description(nonce(env), env.clock()), card_cert=env.rogue.der,
                        card_signer=env.rogue.sign_digest)
    d = reserve(env, tok)
    assert not d.ok and d.code == "VERDICT_CHAIN", d


def test_card_signature_by_another_key_refused(env):
    """A forger with the engine key (worst case) names this card's certificate, but the binding signature comes from
    another card's key: the library refuses to sign that, so the token is assembled here by hand."""
    import base64
    from cryptography.hazmat.primitives.asymmetric import ec
    t, c = open_card()
    try:
        cert_a = c.auth_cert()
    finally:
        close_card(t, c)
    tok = fmv.sign_json(env.engine, description(nonce(env), env.clock()), card_cert=env.card_b.der,
                        card_signer=env.card_b.sign_digest)
    h, p, _ = tok.split(".")

    def b64d(x):
        return base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))

    def b64e(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    payload = b64d(p).decode()
    payload = payload.replace(hashlib.sha256(env.card_b.der).hexdigest(), hashlib.sha256(cert_a).hexdigest())
    payload = payload.replace(b64e(env.card_b.der), b64e(cert_a))
    assert b64e(cert_a) in payload
    env.engine.write_private(str(env.dir / "engine.key"), overwrite=True)
    sk = serialization.load_pem_private_key((env.dir / "engine.key").read_bytes(), None)
    signing_input = (h + "." + b64e(payload.encode())).encode()
    r, s_ = utils.decode_dss_signature(sk.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    forged = signing_input.decode() + "." + b64e(r.to_bytes(32, "big") + s_.to_bytes(32, "big"))
    d = reserve(env, forged)
    assert not d.ok and d.code == "VERDICT_CARD_SIGNATURE", d


def test_verdict_from_a_different_card_does_not_open_this_card(env):
    env.clock.t = jst(10, 0)
    main = env.svc  # a fresh database, so that our card has no reservation history at all
    env.svc = ResetService(SQLiteStore(env.dir / "other.db"), env.engine, env.cas, AUD, log_path=str(env.log),
                           clock=env.clock)
    try:
        tok = fmv.sign_json(env.engine, description(nonce(env), env.clock()), card_cert=env.card_b.der,
                            card_signer=env.card_b.sign_digest)
        d = reserve(env, tok)
        assert d.ok and d["card"] == hashlib.sha256(env.card_b.der).hexdigest()  # a valid reservation for card B
        d = kiosk(env, new="STEAL123")  # ... tapped with our (virtual) card
        assert not d.ok and d.code == "RESERVATION_NONE", d
        assert tries() == (3, 5)
    finally:
        env.svc = main


def test_auth_kind_nonce_takes_no_verdict(env):
    d = reserve(env, phone_verdict(env, nonce(env, kind="auth")))
    assert not d.ok and d.code == "KIND_NO_FACE_STEP", d


# ---- step 2 refusals ---------------------------------------------------------------------------------------------------

@pytest.fixture
def fresh_reservation(env):
    env.clock.t = jst(10, 0)
    d = reserve(env, phone_verdict(env, nonce(env)))
    assert d.ok, d
    return d


def test_expired_reservation_refused(env, fresh_reservation):
    env.clock.t = fresh_reservation["expires_at"]  # exactly 24 h later (10:00 next day, kiosks open)
    d = kiosk(env, new="LATE1234")
    assert not d.ok and d.code == "RESERVATION_EXPIRED", d
    env.clock.t = fresh_reservation["expires_at"] - 1
    assert tries() == (3, 5)


@pytest.mark.parametrize("hm", [(23, 0), (6, 29), (2, 0)])
def test_outside_kiosk_hours_refused(env, fresh_reservation, hm):
    env.clock.t = jst(*hm, day=24) if hm[0] < 10 else jst(*hm)
    d = kiosk(env, new="NIGHT123")
    assert not d.ok and d.code == "OUTSIDE_HOURS", d


def test_store_chain_without_that_reset_refused(env):
    env.clock.t = jst(12, 0)
    d = kiosk(env, chain="lawson", kind="auth", new="1234")
    assert not d.ok and d.code == "STORE_UNSUPPORTED", d
    d = kiosk(env, chain="some-shop", new="ABCD1234")
    assert not d.ok and d.code == "STORE_UNKNOWN", d


@pytest.mark.parametrize("bad", ["ABC12", "abcd1234", "ABCDEFGH", "12345678", "ABCD-1234", "A1B2C3D4E5F6G7H8I"])
def test_bad_new_signing_pin_refused_before_the_card(env, fresh_reservation, bad):
    env.clock.t = jst(12, 0)
    d = kiosk(env, chain="familymart", new=bad)
    assert not d.ok and d.code == "NEW_PIN_FORMAT", d
    assert tries() == (3, 5)


def test_wrong_other_pin_refused_by_the_card_and_reservation_kept(env, fresh_reservation):
    env.clock.t = jst(12, 0)
    d = kiosk(env, chain="ministop", other="9999", new="GOOD4321")
    assert not d.ok and d.code == "OTHER_PIN_WRONG" and d["tries_left"] == 2, d
    assert "9999" not in d["message"]
    d = kiosk(env, chain="ministop", new="GOOD4321")  # the right PIN restores the auth counter; the reset goes on
    assert d.ok and d.code == "PIN_RESET", d
    assert tries() == (3, 5)


def test_other_pin_last_try_is_not_spent(env, fresh_reservation):
    env.clock.t = jst(12, 0)
    for left in (2, 1):
        d = kiosk(env, other="9999", new="LAST1234")
        assert d.code == "OTHER_PIN_WRONG" and d["tries_left"] == left, d
    d = kiosk(env, other="9999", new="LAST1234")
    assert d.code == "OTHER_PIN_LAST_TRY", d
    assert tries()[0] == 1  # the card's last try was never sent
    d = kiosk(env, new="LAST1234")  # even the right PIN is not sent: the kiosk never spends a card's last try
    assert d.code == "OTHER_PIN_LAST_TRY" and tries()[0] == 1


def auth_proof(env, n, signer=None, aud=AUD):
    """Phone step of an auth-PIN reset: the card verifies the signing PIN and signs the proof with its signing key."""
    t, c = open_card()
    try:
        auth = c.auth_cert()
        c.verify_pin(PIN_SIGN, CARD_PINS["sign"])
        sign = c.sign_cert()
        digest = auth_proof_digest(aud, n, hashlib.sha256(auth).hexdigest())
        sig = signer(digest) if signer else c.sign_sign(digest)
        return auth, sign, sig
    finally:
        close_card(t, c)


def test_auth_reservation_refusals(env):
    env.clock.t = jst(9, 0)
    n = nonce(env, kind="sign")
    d = env.svc.submit_auth_proof(n, *auth_proof(env, n))
    env.outputs.append(d)
    assert not d.ok and d.code == "KIND_NEEDS_FACE", d
    n = nonce(env, kind="auth")
    d = env.svc.submit_auth_proof(n, *auth_proof(env, n, signer=env.card_b.sign_digest))
    env.outputs.append(d)
    assert not d.ok and d.code == "PROOF_SIGNATURE", d
    n = nonce(env, kind="auth")
    d = env.svc.submit_auth_proof(n, *auth_proof(env, n, aud="https://other-service.example/"))
    env.outputs.append(d)
    assert not d.ok and d.code == "PROOF_SIGNATURE", d
    n = nonce(env, kind="auth")
    auth, _, _ = auth_proof(env, n)
    digest = auth_proof_digest(AUD, n, hashlib.sha256(auth).hexdigest())
    d = env.svc.submit_auth_proof(n, auth, env.rogue.der, env.rogue.sign_digest(digest))
    env.outputs.append(d)
    assert not d.ok and d.code == "PROOF_CHAIN", d
    d = env.svc.submit_auth_proof(n, auth, env.rogue.der, env.rogue.sign_digest(digest))
    assert not d.ok and d.code == "NONCE_USED", d
    d = env.svc.submit_auth_proof("ab" * 32, auth, b"junk", b"")
    assert not d.ok and d.code == "NONCE_UNKNOWN", d


def test_user_auth_pin_reset_with_signing_pin(env):
    """Auth-PIN reset: the phone proves the signing PIN (signing-key signature over the nonce, no face step); at the
    kiosk the card verifies the signing PIN; the new PIN is 4 digits; AEON Retail offers it."""
    env.clock.t = jst(9, 0)
    n = nonce(env, kind="auth")
    proof = auth_proof(env, n)
    d = env.svc.submit_auth_proof(n, *proof)
    env.outputs.append(d)
    assert d.ok and d.code == "RESERVED" and d["kind"] == "auth" and d["card"] == card_fp(env), d
    d = env.svc.submit_auth_proof(n, *proof)
    assert not d.ok and d.code == "NONCE_USED"
    d = kiosk(env, chain="aeon-retail", kind="auth", new="12345")
    assert not d.ok and d.code == "NEW_PIN_FORMAT"
    d = kiosk(env, chain="aeon-retail", kind="auth", other="WRONG123", new="5678")
    assert not d.ok and d.code == "OTHER_PIN_WRONG" and d["tries_left"] == 4, d
    assert tries()[1] == 4
    d = kiosk(env, chain="aeon-retail", kind="auth", new="5678")
    assert d.ok and d.code == "PIN_RESET" and d["tries_left"] == 3, d
    assert tries() == (3, 5)  # auth counter restored from 1 by the reset; signing counter restored by the VERIFY
    t, c = open_card()
    try:
        assert c.verify_pin(PIN_AUTH, "5678") == 3
    finally:
        close_card(t, c)
    d = kiosk(env, chain="aeon-retail", kind="auth", new="0000")
    assert not d.ok and d.code == "RESERVATION_USED"


def test_wrong_admin_key_leaves_reservation_valid(env, fresh_reservation):
    env.clock.t = jst(12, 0)
    d = kiosk(env, new="ADMIN123", admin_key=bytes(16))
    assert not d.ok and d.code == "CARD_RESET_FAILED", d
    state, _ = env.svc.store.find_reservation(card_fp(env), "sign", env.clock.t)
    assert state == "ok"


def test_cli_kiosk_and_reserve(env):
    """The command line (python3 -m fmreset) with a config file: nonce, reserve and kiosk over PC/SC, PINs on stdin."""
    st = env.stack
    cfg = {"db": "reset.db", "aud": AUD, "engine_public_key": "engine.pub",
           "jpki_ca": [str(st.ca / "jpki-ca.pem"), "soft-ca.pem"], "log": "decisions.jsonl",
           "admin_key_file": str(st.ca / "admin-key.hex")}
    (env.dir / "svc.json").write_text(json.dumps(cfg))
    base = [sys.executable, "-m", "fmreset", "--config", str(env.dir / "svc.json")]
    envv = dict(os.environ, PYTHONPATH=os.path.join(REPO, "service"))

    def run(*a, stdin=None):
        r = subprocess.run(base + list(a), capture_output=True, text=True, input=stdin, env=envv, timeout=120)
        env.outputs.append(r.stdout + r.stderr)
        return r
    r = run("nonce")
    assert r.returncode == 0, r.stderr
    n = json.loads(r.stdout)["nonce"]
    env.clock.t = int(datetime.datetime.now().timestamp())
    tok = phone_verdict(env, n)
    (env.dir / "v.jws").write_text(tok)
    r = run("reserve", "--token-file", str(env.dir / "v.jws"))
    assert r.returncode == 0 and json.loads(r.stdout)["code"] == "RESERVED", r.stdout + r.stderr
    r = run("reserve", "--token-file", str(env.dir / "v.jws"))
    assert r.returncode == 1 and json.loads(r.stdout)["code"] == "NONCE_USED"
    SECRETS.add("CLI98765")
    r = run("kiosk", "--store", "seven-eleven", "--kind", "sign", "--reader", "", "--at-local", "11:00",
            stdin=CARD_PINS["auth"] + "\nCLI98765\n")
    assert r.returncode == 0 and json.loads(r.stdout)["code"] == "PIN_RESET", r.stdout + r.stderr
    CARD_PINS["sign"] = "CLI98765"


def test_every_decision_logged_without_secrets(env):
    lines = env.log.read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    assert len(recs) >= len([o for o in env.outputs if isinstance(o, dict)])
    assert {r["event"] for r in recs} == {"nonce", "reserve", "reserve_auth", "kiosk"}
    codes = {r["code"] for r in recs}
    for c in ("RESERVED", "PIN_RESET", "NONCE_USED", "RESERVATION_USED", "RESERVATION_EXPIRED", "OUTSIDE_HOURS",
              "VERDICT_SIGNATURE", "VERDICT_AUD", "VERDICT_EXPIRED", "DECISION_NOT_MATCH", "OTHER_PIN_WRONG",
              "STORE_UNSUPPORTED", "NEW_PIN_FORMAT", "RESERVATION_NONE", "VERDICT_CHAIN"):
        assert c in codes, c
    text = env.log.read_text() + json.dumps([o if isinstance(o, str) else dict(o) for o in env.outputs])
    for db in ("reset.db", "other.db"):
        text += (env.dir / db).read_bytes().decode("latin-1")
    assert not leaked(text)
    assert leaked(text + '"x": "' + sorted(SECRETS)[0] + '"')  # the check itself finds a planted PIN


def leaked(text):
    """Secrets found in text, after removing long lowercase-hex runs (nonces, fingerprints, ids: a 4-digit PIN would
    appear in them by chance) and digit runs of 9+ (Unix times)."""
    import re
    text = re.sub(r"[0-9a-f]{16,}", "#", text)
    text = re.sub(r"[0-9]{9,}", "#", text)
    return [s for s in SECRETS if s in text]
