"""Signed verdicts (issue 6) checked from outside the C code: ctypes round trip, independent verification with PyJWT,
the `openssl` command and the `cryptography` package (card binding rebuilt from docs/verdict-format.md), the CLI
(keygen/pubkey/verdict check/verdict sign) and every tampering case with the failed_check it must report.

Run: /usr/bin/python3 -m pytest tests/python/test_verdict.py -q   (FACEMATCH_LIB / FM_BUILD_DIR select the build)
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import shutil
import stat
import subprocess
import time

import pytest

jwt = pytest.importorskip("jwt", reason="PyJWT (Debian python3-jwt) is needed for the independent checks")
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from conftest import build_dir  # noqa: E402

NONCE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
AUD = "pin-reset.example"
# Secrets the flow around the verdict knows (card PIN, My Number); they must never show up anywhere we produce.
PIN = "4821"
MY_NUMBER = "123456789018"


@pytest.fixture(scope="module")
def verdict():
    from facematch import verdict as v
    return v


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# ---- test PKI: a CA, two cards and a rogue CA's card, made here ------------------------------------------------------

def _cert(subject, key, issuer_name, issuer_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    b = b.add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                      encipher_only=False, decipher_only=False), critical=True)
    return b.sign(issuer_key, hashes.SHA256())


class Card:
    def __init__(self, name, issuer=None):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        if issuer is None:
            self.cert = _cert(name, self.key, subj, self.key, True)
        else:
            self.cert = _cert(name, self.key, issuer.cert.subject, issuer.key, False)
        self.der = self.cert.public_bytes(serialization.Encoding.DER)
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.key_pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
        self.pin = PIN  # what a real card helper would hold while signing; never given to the verdict module

    def sign_digest(self, digest):
        """What the JPKI card does: RSASSA-PKCS1-v1_5 over DigestInfo(SHA-256, digest)."""
        return self.key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


@pytest.fixture(scope="module")
def pki():
    ca = Card("facematch test JPKI CA")
    rogue_ca = Card("rogue CA")
    return {"ca": ca, "a": Card("card A", ca), "b": Card("card B", ca), "rogue": Card("rogue card", rogue_ca)}


def description(**over):
    d = {"aud": AUD, "nonce": NONCE, "decision": "match", "reasons": ["distance_below_threshold"],
         "match": {"distance": 0.41, "similarity": 0.59, "threshold": 0.6, "fmr": 0.0001, "metric": "l2"},
         "liveness": {"checks": [{"name": "blink", "score": 0.93, "threshold": 0.5, "pass": True},
                                 {"name": "pad_model", "score": 0.97, "threshold": 0.8, "pass": True}],
                      "challenge": [{"action": "blink", "asked_at": 0.5, "deadline": 4.5, "met": True,
                                     "met_at": 1.75},
                                    {"action": "turn_left", "asked_at": 4.5, "deadline": 8.5, "met": True,
                                     "met_at": 6.25}]},
         "quality": [{"t": 1.2, "quality": 0.82, "face_px": 160, "sharpness": 0.7, "brightness": 0.55, "yaw": 2.5,
                      "pitch": -1.5}],
         "portrait": {"sha256": hashlib.sha256(b"portrait").hexdigest(), "auth": "verified"},
         "models": [{"name": "dlib_resnet", "sha256": hashlib.sha256(b"model").hexdigest()}]}
    d.update(over)
    return d


def make_token(verdict, key, card, **over):
    return verdict.sign_json(key, description(**over), card_cert=card.der, card_signer=card.sign_digest)


# ---- ctypes round trip ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_round_trip(verdict, pki, alg):
    key = verdict.Key.generate(alg)
    tok = make_token(verdict, key, pki["a"])
    v = verdict.Verifier(key, cas=[pki["ca"].pem])
    r = v.verify(tok, NONCE, AUD)
    assert r.valid and r.failed_check is None and r.chain_checked, r
    p = r.payload
    assert p["v"] == 1 and p["decision"] == "match" and p["aud"] == AUD and p["nonce"] == NONCE
    assert p["exp"] - p["iat"] == 120 and abs(p["iat"] - time.time()) < 60
    assert p["match"] == {"distance": 0.41, "similarity": 0.59, "threshold": 0.6, "fmr": 0.0001, "metric": "l2"}
    assert p["liveness"]["challenge"][1]["met_at"] == 6.25
    assert p["card_cert_sha256"] == hashlib.sha256(pki["a"].der).hexdigest()
    assert p["kid"] == key.kid and len(p["jti"]) == 32
    assert r.raw.distance == 0.41


# ---- independent verification ---------------------------------------------------------------------------------------

def rfc7638_thumbprint(pub):
    """Independent RFC 7638 thumbprint from the cryptography package's public numbers."""
    if isinstance(pub, ec.EllipticCurvePublicKey):
        n = pub.public_numbers()
        jwk = {"crv": "P-256", "kty": "EC", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}
    else:
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"crv": "Ed25519", "kty": "OKP", "x": b64u(raw)}
    canon = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return b64u(hashlib.sha256(canon).digest())


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_pyjwt_accepts(verdict, pki, alg):
    key = verdict.Key.generate(alg)
    tok = make_token(verdict, key, pki["a"])
    pub_pem = key.public_pem()
    claims = jwt.decode(tok, pub_pem, algorithms=[alg], audience=AUD,
                        options={"require": ["exp", "iat", "aud"]})
    assert claims["nonce"] == NONCE and claims["decision"] == "match"
    hdr = jwt.get_unverified_header(tok)
    assert hdr == {"alg": alg, "typ": "fm-verdict+jwt", "kid": key.kid}
    pub = serialization.load_pem_public_key(pub_pem.encode())
    assert rfc7638_thumbprint(pub) == key.kid
    # PyJWT rejects it for another audience or key, as a control that the check above could fail
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(tok, pub_pem, algorithms=[alg], audience="other")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tok, verdict.Key.generate(alg).public_pem(), algorithms=[alg], audience=AUD)


def test_pyjwt_es256_tokens_verify_in_facematch(verdict, pki):
    """The converse: a token PyJWT signs (same format, no card) verifies in our verifier; proves R||S agreement."""
    key = verdict.Key.generate("ES256")
    priv = ec.generate_private_key(ec.SECP256R1())
    pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    key = verdict.Key.load(pem)
    ours = verdict.sign_json(key, description())
    payload = json.loads(unb64u(ours.split(".")[1]))
    other = jwt.encode(payload, pem, algorithm="ES256", headers={"typ": "fm-verdict+jwt", "kid": key.kid})
    # PyJWT writes its own header member order; the signature check is what matters
    r = verdict.Verifier(key, require_card=0).verify(other, NONCE, AUD)
    assert r.valid, r


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_openssl_command_accepts(verdict, pki, alg, tmp_path):
    key = verdict.Key.generate(alg)
    tok = make_token(verdict, key, pki["a"])
    h, p, s = tok.split(".")
    (tmp_path / "pub.pem").write_text(key.public_pem())
    (tmp_path / "input").write_bytes(f"{h}.{p}".encode())
    sig = unb64u(s)
    assert len(sig) == 64
    if alg == "ES256":
        r, s_ = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        (tmp_path / "sig").write_bytes(utils.encode_dss_signature(r, s_))
        cmd = ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "input"]
    else:
        (tmp_path / "sig").write_bytes(sig)
        cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "input",
               "-sigfile", "sig"]
    ok = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0 and "Verified" in ok.stdout + ok.stderr, ok
    # control: a changed input fails under the same command
    (tmp_path / "input").write_bytes(f"{h}.{p}x".encode())
    bad = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode != 0


def test_card_binding_rebuilt_independently(verdict, pki):
    """docs/verdict-format.md: the card signs SHA-256(BASE64URL(header) '.' BASE64URL(core)), core = the payload
    with its last member (card) removed. Rebuild that here and verify with the certificate's key."""
    key = verdict.Key.generate("ES256")
    tok = make_token(verdict, key, pki["a"])
    h, p, _ = tok.split(".")
    payload = unb64u(p)
    i = payload.rindex(b',"card":')
    core = payload[:i] + b"}"
    obj = json.loads(payload)
    assert list(obj)[-1] == "card" and "card" not in json.loads(core)
    cert = x509.load_der_x509_certificate(unb64u(obj["card"]["cert"]))
    assert hashlib.sha256(unb64u(obj["card"]["cert"])).hexdigest() == obj["card_cert_sha256"]
    signing_input = f"{h}.{b64u(core)}".encode()
    cert.public_key().verify(unb64u(obj["card"]["sig"]), signing_input, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(Exception):
        cert.public_key().verify(unb64u(obj["card"]["sig"]), signing_input + b"x", padding.PKCS1v15(),
                                 hashes.SHA256())


# ---- tampering ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def setup(verdict, pki):
    key = verdict.Key.generate("ES256")
    v = verdict.Verifier(key, cas=[pki["ca"].pem])
    return key, v


def test_every_single_byte_change_is_rejected(verdict, pki, setup):
    key, v = setup
    tok = make_token(verdict, key, pki["a"]).encode()
    assert v.verify(tok, NONCE, AUD).valid
    accepted = []
    for i in range(len(tok)):
        for repl in {tok[i] ^ 1, ord("A") if tok[i] != ord("A") else ord("B")}:
            t = tok[:i] + bytes([repl]) + tok[i + 1:]
            if v.verify(t, NONCE, AUD).valid:
                accepted.append(i)
    assert not accepted


def forge(key_pem_priv, header, payload):
    """Re-sign header.payload (bytes) with an ES256 private key: what a holder of the engine key could do."""
    priv = serialization.load_pem_private_key(key_pem_priv, None)
    si = f"{b64u(header)}.{b64u(payload)}".encode()
    r, s = utils.decode_dss_signature(priv.sign(si, ec.ECDSA(hashes.SHA256())))
    return si.decode() + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


@pytest.fixture(scope="module")
def engine(verdict, pki):
    """An engine key whose private PEM the test also holds (for forging)."""
    priv = ec.generate_private_key(ec.SECP256R1())
    pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    key = verdict.Key.load(pem)
    return key, pem, verdict.Verifier(key, cas=[pki["ca"].pem])


def test_tampering_cases(verdict, pki, engine):
    key, pem, v = engine
    t1 = make_token(verdict, key, pki["a"])
    t2 = make_token(verdict, key, pki["a"], decision="no_match")
    h, p1, s1 = t1.split(".")
    _, p2, _ = t2.split(".")
    assert v.verify(t1, NONCE, AUD).valid
    # swapped payloads
    assert v.verify(f"{h}.{p2}.{s1}", NONCE, AUD).failed_check == "signature"
    # alg none, HS256 keyed with the public key PEM (key confusion)
    hdr = json.loads(unb64u(h))
    none_h = b64u(json.dumps(dict(hdr, alg="none")).encode())
    assert v.verify(f"{none_h}.{p1}.", NONCE, AUD).failed_check == "alg"
    hs_h = b64u(json.dumps(dict(hdr, alg="HS256")).encode())
    mac = hmac.new(key.public_pem().encode(), f"{hs_h}.{p1}".encode(), hashlib.sha256).digest()
    assert v.verify(f"{hs_h}.{p1}.{b64u(mac)}", NONCE, AUD).failed_check == "alg"
    # nonce, audience, expiry
    assert v.verify(t1, "ff" * 16, AUD).failed_check == "nonce"
    assert v.verify(t1, NONCE, "other.example").failed_check == "aud"
    iat = json.loads(unb64u(p1))["iat"]
    assert v.verify(t1, NONCE, AUD, now=iat + 120 + 30).failed_check == "expired"
    assert v.verify(t1, NONCE, AUD, now=iat + 120 + 29).valid
    # card signature from another card: card B's signature next to card A's certificate
    # (the library refuses to sign that itself, so it is forged by hand below with the engine key)
    with pytest.raises(Exception):
        verdict.sign_json(key, description(), card_cert=pki["a"].der, card_signer=pki["b"].sign_digest)
    payload = json.loads(unb64u(p1))
    core = unb64u(p1)[:unb64u(p1).rindex(b',"card":')] + b"}"
    digest = hashlib.sha256(f"{h}.{b64u(core)}".encode()).digest()
    forged = dict(payload)
    forged["card"] = {"alg": "RS256", "cert": b64u(pki["a"].der), "sig": b64u(pki["b"].sign_digest(digest))}
    tok = forge(pem, unb64u(h), json.dumps(forged, separators=(",", ":")).encode())
    assert v.verify(tok, NONCE, AUD).failed_check == "card_signature"
    # ... and card B's certificate with its own signature while card_cert_sha256 still names card A
    forged["card"] = {"alg": "RS256", "cert": b64u(pki["b"].der), "sig": b64u(pki["b"].sign_digest(digest))}
    tok = forge(pem, unb64u(h), json.dumps(forged, separators=(",", ":")).encode())
    assert v.verify(tok, NONCE, AUD).failed_check == "card_signature"
    # a card whose certificate does not chain to the configured CA
    rogue = make_token(verdict, key, pki["rogue"])
    assert v.verify(rogue, NONCE, AUD).failed_check == "chain"
    # no card binding at all
    bare = verdict.sign_json(key, description())
    assert v.verify(bare, NONCE, AUD).failed_check == "card_signature"
    # crit / unknown typ / padding / trailing data
    crit_h = json.dumps(dict(hdr, crit=["exp"])).encode()
    assert v.verify(forge(pem, crit_h, unb64u(p1)), NONCE, AUD).failed_check == "malformed"
    typ_h = json.dumps(dict(hdr, typ="JWT")).encode()
    assert v.verify(forge(pem, typ_h, unb64u(p1)), NONCE, AUD).failed_check == "malformed"
    assert v.verify(t1 + "=", NONCE, AUD).failed_check == "malformed"
    assert v.verify(t1 + ".AAAA", NONCE, AUD).failed_check == "malformed"


# ---- CLI ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli():
    exe = os.path.abspath(os.path.join(build_dir(), "bin", "facematch"))
    if not os.path.exists(exe):
        pytest.skip(f"CLI not built at {exe}")
    return exe


def run(cli, *args, cwd=None):
    return subprocess.run([cli, *args], cwd=cwd, capture_output=True, text=True)


def test_cli_keys(cli, tmp_path, verdict):
    r = run(cli, "keygen", "--out", "k.pem", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    st = os.stat(tmp_path / "k.pem")
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert run(cli, "keygen", "--out", "k.pem", cwd=tmp_path).returncode != 0  # no overwrite
    os.chmod(tmp_path / "k.pem", 0o644)
    r = run(cli, "keygen", "--out", "k.pem", "--force", "--alg", "EdDSA", cwd=tmp_path)
    assert r.returncode == 0 and stat.S_IMODE(os.stat(tmp_path / "k.pem").st_mode) == 0o600
    kid = r.stdout.split("kid: ")[1].strip()
    os.chmod(tmp_path / "k.pem", 0o644)
    r = run(cli, "pubkey", "k.pem", "--out", "p.pem", cwd=tmp_path)
    assert r.returncode == 0 and "warning" in r.stderr and "group/others" in r.stderr
    assert kid in r.stdout
    pub = serialization.load_pem_public_key((tmp_path / "p.pem").read_bytes())
    assert isinstance(pub, ed25519.Ed25519PublicKey) and rfc7638_thumbprint(pub) == kid
    assert run(cli, "keygen", "--out", "x.pem", "--alg", "HS256", cwd=tmp_path).returncode == 2


def test_private_key_files_interoperate(cli, tmp_path, verdict):
    """Our PKCS#8 writer (hand-assembled so that no unwiped copies are left) is read by OpenSSL and cryptography;
    keys written by OpenSSL (PKCS#8 and traditional EC) are read by us; a P-256 file whose public point does not
    belong to its private scalar is refused."""
    for alg in ("ES256", "EdDSA"):
        assert run(cli, "keygen", "--out", f"{alg}.pem", "--alg", alg, cwd=tmp_path).returncode == 0
        pem = (tmp_path / f"{alg}.pem").read_bytes()
        priv = serialization.load_pem_private_key(pem, None)
        ours = verdict.Key.load(pem)
        assert rfc7638_thumbprint(priv.public_key()) == ours.kid and ours.is_private
        r = subprocess.run(["openssl", "pkey", "-in", f"{alg}.pem", "-noout", "-check"], cwd=tmp_path,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        k = ec.generate_private_key(ec.SECP256R1())
        ours = verdict.Key.load(k.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()))
        assert ours.kid == rfc7638_thumbprint(k.public_key())
    k1, k2 = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    der1 = k1.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub2 = k2.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert len(der1) == 138 and der1[73:] == k1.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    bad = der1[:73] + pub2
    pem = b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(bad) + b"-----END PRIVATE KEY-----\n"
    with pytest.raises(Exception):
        verdict.Key.load(pem)
    enc = k1.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.BestAvailableEncryption(b"pw"))
    with pytest.raises(Exception):
        verdict.Key.load(enc)


def test_cli_check_and_failed_checks(cli, tmp_path, pki):
    (tmp_path / "ca.pem").write_bytes(pki["ca"].pem)
    for name in ("a", "b", "rogue"):
        (tmp_path / f"{name}.key").write_bytes(pki[name].key_pem)
        os.chmod(tmp_path / f"{name}.key", 0o600)
        (tmp_path / f"{name}.pem").write_bytes(pki[name].pem)
    assert run(cli, "keygen", "--out", "k.pem", "--pub", "p.pem", cwd=tmp_path).returncode == 0
    (tmp_path / "in.json").write_text(json.dumps(description()))
    r = run(cli, "verdict", "sign", "--key", "k.pem", "--in", "in.json", "--card-key", "a.key", "--card-cert",
            "a.pem", "--out", "v.jws", cwd=tmp_path)
    assert r.returncode == 0, r.stderr

    def check(*extra, file="v.jws"):
        r = run(cli, "verdict", "check", "--pub", "p.pem", "--nonce", NONCE, "--aud", AUD, "--ca", "ca.pem",
                *extra, file, "--json", cwd=tmp_path)
        out = json.loads(r.stdout)
        assert (r.returncode == 0) == out["valid"] and r.returncode in (0, 1), r
        return out

    ok = check()
    assert ok["valid"] and ok["failed_check"] is None and ok["payload"]["decision"] == "match"
    r = run(cli, "verdict", "check", "--pub", "p.pem", "--nonce", NONCE, "--aud", "x", "--ca", "ca.pem", "v.jws",
            "--json", cwd=tmp_path)
    assert r.returncode == 1 and json.loads(r.stdout)["failed_check"] == "aud"
    r = run(cli, "verdict", "check", "--pub", "p.pem", "--nonce", "00" * 16, "--aud", AUD, "--ca", "ca.pem",
            "v.jws", "--json", cwd=tmp_path)
    assert r.returncode == 1 and json.loads(r.stdout)["failed_check"] == "nonce"
    assert check("--now", str(ok["payload"]["exp"] + 3600))["failed_check"] == "expired"
    tok = (tmp_path / "v.jws").read_text().strip()
    h, p, s = tok.split(".")
    (tmp_path / "none.jws").write_text(b64u(json.dumps(dict(json.loads(unb64u(h)), alg="none")).encode())
                                       + f".{p}.")
    assert check(file="none.jws")["failed_check"] == "alg"
    (tmp_path / "flip.jws").write_text(tok[:-5] + ("A" if tok[-5] != "A" else "B") + tok[-4:])
    assert check(file="flip.jws")["failed_check"] == "signature"
    r = run(cli, "verdict", "sign", "--key", "k.pem", "--in", "in.json", "--card-key", "rogue.key", "--card-cert",
            "rogue.pem", "--out", "rogue.jws", cwd=tmp_path)
    assert r.returncode == 0
    assert check(file="rogue.jws")["failed_check"] == "chain"
    # garbage, and the token on stdin; without --ca the chain is not checked and the output says so
    (tmp_path / "junk.jws").write_text("not a token\n")
    junk = check(file="junk.jws")
    assert junk["failed_check"] == "malformed" and junk["payload"] is None
    r = subprocess.run([cli, "verdict", "check", "--pub", "p.pem", "--nonce", NONCE, "--aud", AUD, "--ca", "ca.pem",
                        "-", "--json"], cwd=tmp_path, input=tok + "\n", capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["valid"]
    r = run(cli, "verdict", "check", "--pub", "p.pem", "--nonce", NONCE, "--aud", AUD, "rogue.jws", "--json",
            cwd=tmp_path)
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["valid"] and out["chain_checked"] is False and "NOT checked" in r.stderr
    # missing required options: usage error (2), not a verdict answer
    assert run(cli, "verdict", "check", "--pub", "p.pem", "v.jws", cwd=tmp_path).returncode == 2
    # the developer signer refuses a card key that does not match the certificate (card B key, card A cert)
    r = run(cli, "verdict", "sign", "--key", "k.pem", "--in", "in.json", "--card-key", "b.key", "--card-cert",
            "a.pem", cwd=tmp_path)
    assert r.returncode != 0 and not r.stdout


def test_no_pin_or_my_number_in_any_output(cli, tmp_path, verdict, pki):
    """The verdict module never receives the PIN or the My Number; check that nothing we emit contains them, and
    that an input trying to smuggle them in is refused without echoing the values."""
    key = verdict.Key.generate("ES256")
    card = pki["a"]
    seen = []

    def signer(digest):
        seen.append(digest)  # a real card module would VERIFY the PIN here; the verdict module never sees it
        assert card.pin == PIN
        return card.sign_digest(digest)

    tok = verdict.sign_json(key, description(), card_cert=card.der, card_signer=signer)
    assert len(seen) == 1
    h, p, s = tok.split(".")
    blobs = [tok, unb64u(h).decode(), unb64u(p).decode()]
    for bad in ({"pin": PIN}, {"my_number": MY_NUMBER}, {"reasons": [MY_NUMBER + "x" * 60]}):
        with pytest.raises(Exception) as e:
            verdict.sign_json(key, description(**bad), card_cert=card.der, card_signer=signer)
        blobs.append(str(e.value))
    r1 = run(cli, "keygen", "--out", "k.pem", "--pub", "p.pem", cwd=tmp_path)
    (tmp_path / "in.json").write_text(json.dumps(description(my_number=MY_NUMBER, pin=PIN)))
    r2 = run(cli, "verdict", "sign", "--key", "k.pem", "--in", "in.json", cwd=tmp_path)
    assert r2.returncode != 0
    (tmp_path / "in.json").write_text(json.dumps(description()))
    (tmp_path / "a.key").write_bytes(card.key_pem)
    (tmp_path / "a.pem").write_bytes(card.pem)
    r3 = run(cli, "verdict", "sign", "--key", "k.pem", "--in", "in.json", "--card-key", "a.key", "--card-cert",
             "a.pem", "--out", "v.jws", cwd=tmp_path)
    r4 = run(cli, "verdict", "check", "--pub", "p.pem", "--nonce", NONCE, "--aud", AUD, "v.jws", "--json",
             cwd=tmp_path)
    assert r4.returncode == 0
    for r in (r1, r2, r3, r4):
        blobs += [r.stdout, r.stderr]
    blobs.append((tmp_path / "v.jws").read_text())
    blobs.append(unb64u((tmp_path / "v.jws").read_text().strip().split(".")[1]).decode())
    for b in blobs:
        assert PIN not in b and MY_NUMBER not in b
