"""The reservation service over HTTP (python3 -m fmreset serve): nonce issue, verdict submission with a card-bound
verdict from a software card under a configured test CA (the real card is in test_flow_pcsc.py), replay, bad
requests. The verifier is libfacematch's, through the ctypes binding."""

import datetime
import hashlib
import http.client
import json
import os
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.x509.oid import NameOID

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "service"))

from fmreset import challenge  # noqa: E402

AUD = "https://reset.example.jp/v1"


def cert(name, key, issuer_name, issuer_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
         .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    return b.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def server(tmp_path_factory, fm):
    from facematch import verdict as fmv
    d = tmp_path_factory.mktemp("http")
    engine = fmv.Key.generate("ES256")
    (d / "engine.pub").write_text(engine.public_pem())
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test JPKI CA")])
    ca = cert("test JPKI CA", ca_key, ca_name, ca_key, True)
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    card_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    card = cert("card", card_key, ca_name, ca_key, False)
    (d / "admin.hex").write_text("00" * 16)
    (d / "svc.json").write_text(json.dumps({"db": "r.db", "aud": AUD, "engine_public_key": "engine.pub",
                                            "jpki_ca": ["ca.pem"], "log": "log.jsonl",
                                            "admin_key_file": "admin.hex"}))
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "service"))
    p = subprocess.Popen([sys.executable, "-m", "fmreset", "--config", str(d / "svc.json"), "serve", "--listen",
                          "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline()
        if not line:
            pytest.fail("server did not start: " + p.stderr.read())
        host, port = json.loads(line)["listening"].rsplit(":", 1)
        s = type("S", (), {})()
        s.host, s.port, s.engine, s.dir, s.fmv = host, int(port), engine, d, fmv
        s.card_der = card.public_bytes(serialization.Encoding.DER)
        s.sign = lambda dg: card_key.sign(dg, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        yield s
    finally:
        p.terminate()
        p.wait(timeout=10)


def post(s, path, body, raw=None):
    c = http.client.HTTPConnection(s.host, s.port, timeout=30)
    data = raw if raw is not None else json.dumps(body).encode()
    c.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    out = r.status, json.loads(r.read() or b"{}")
    c.close()
    return out


def verdict(s, nonce, **over):
    acts, wins = challenge.derive(bytes.fromhex(nonce))
    steps = [{"action": a, "asked_at": 0.5 + k, "deadline": 0.5 + k + wins[k] / 1000, "met": True,
              "met_at": 1.5 + k} for k, a in enumerate(acts)]
    desc = {"aud": AUD, "nonce": nonce, "decision": "match", "reasons": ["distance_below_threshold"],
            "liveness": {"checks": [], "challenge": steps},
            "match": {"distance": 0.4, "similarity": 0.6, "threshold": 0.6, "fmr": 0.002, "metric": "l2"},
            "portrait": {"sha256": hashlib.sha256(b"p").hexdigest(), "auth": "verified"}}
    desc.update(over)
    return s.fmv.sign_json(s.engine, desc, card_cert=s.card_der, card_signer=s.sign)


def test_nonce_then_reservation_then_replay(server):
    st, d = post(server, "/v1/nonces", {"kind": "sign"})
    assert st == 200 and d["ok"] and d["aud"] == AUD and len(d["nonce"]) == 64
    tok = verdict(server, d["nonce"])
    st, r = post(server, "/v1/reservations", {"token": tok})
    assert st == 200 and r["code"] == "RESERVED" and r["card"] == hashlib.sha256(server.card_der).hexdigest()
    st, r = post(server, "/v1/reservations", {"token": tok})
    assert st == 409 and r["code"] == "NONCE_USED"


def test_refusals(server):
    _, d = post(server, "/v1/nonces", {"kind": "sign"})
    st, r = post(server, "/v1/reservations", {"token": verdict(server, d["nonce"], decision="spoof_suspected")})
    assert st == 403 and r["code"] == "DECISION_NOT_MATCH"
    _, d = post(server, "/v1/nonces", {"kind": "sign"})
    st, r = post(server, "/v1/reservations", {"token": verdict(server, d["nonce"], aud="someone-else")})
    assert st == 403 and r["code"] == "VERDICT_AUD"
    st, r = post(server, "/v1/nonces", {"kind": "resident"})
    assert st == 403 and r["code"] == "KIND_INVALID"
    st, r = post(server, "/v1/reservations", {"token": "a.b.c"})
    assert st == 403 and r["code"] == "VERDICT_MALFORMED"
    st, r = post(server, "/v1/reservations", None, raw=b"not json")
    assert st == 400 and r["code"] == "BAD_REQUEST"
    st, r = post(server, "/v1/reservations", None, raw=b"[1]")
    assert st == 400
    st, r = post(server, "/v1/other", {})
    assert st == 404
    st, r = post(server, "/v1/reservations", None, raw=b"{" + b" " * 70000 + b"}")
    assert st == 413


def test_log_has_every_decision(server):
    recs = [json.loads(x) for x in (server.dir / "log.jsonl").read_text().splitlines()]
    assert [r["code"] for r in recs][:3] == ["NONCE_ISSUED", "RESERVED", "NONCE_USED"]
    assert all(set(r) <= {"ts", "event", "ok", "code", "message", "kind", "card", "reservation", "verdict", "store",
                          "expires_at", "tries_left", "failed_check", "step", "nonce", "aud"} for r in recs)
