"""The card through the real stack: pcscd + vsmartcard's vpcd driver + the virtual card (`facematch card sim`) as the
vpcd client, then (1) our PC/SC transport (`facematch card tries/read/sign`) and (2) OpenSC, an independent client
(`pkcs15-tool`, `pkcs11-tool` with opensc-pkcs11.so), whose signature `openssl` verifies with the card's certificate.

The test starts its own pcscd in the foreground with a private reader.conf.d (vpcd on a free port) and skips, saying
why, when the Debian packages (pcscd, vsmartcard-vpcd, opensc, openssl) are missing or another pcscd already owns
/run/pcscd (pcsc-lite 1.9.9's daemon has no private-socket option). Every process it starts is stopped at the end.
"""

import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from pcsc_fixture import VPCD_DRIVER, start_stack, stop_stack

OPENSC_PKCS11 = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"

BIRTH, EXPIRY_YEAR, CODE = "19800217", "2035", "2285"
PIN_B = "55021720352285"  # domain.md §2 example: Showa 55-02-17, 2035, 2285
AUTH_PIN = "4721"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # pcsc_fixture checks the CLI, pcscd, vpcd and /run/pcscd; OpenSC and openssl are this module's own needs
    for tool in ("pkcs15-tool", "pkcs11-tool", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (Debian packages opensc, openssl)")
    for f in (VPCD_DRIVER, OPENSC_PKCS11):
        if not os.path.exists(f):
            pytest.skip(f"{f} missing (Debian packages vsmartcard-vpcd, opensc)")
    holder = {
        "name": "TEST HOLDER", "birth_date": "1980-02-17", "sex": "2", "expiry": "2035-02-17",
        "security_code": CODE, "auth_pin": AUTH_PIN, "sign_pin": "ABC12345", "my_number": "123456789018",
    }
    st = start_stack(tmp_path_factory.mktemp("card_pcsc"), holder)
    try:
        yield st
    finally:
        stop_stack(st)


def run(st, *args, stdin=None):
    return subprocess.run([st.cli, "card", *args], capture_output=True, text=True, input=stdin, timeout=120)


def tries(st):
    r = run(st, "tries", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["tries"]


def test_tries_spend_nothing(stack):
    assert tries(stack) == {"auth": 3, "sign": 5, "visual_a": 10, "visual_b": 10, "text": 3, "resident": 3}
    assert tries(stack)["visual_b"] == 10


def test_read_portrait_verified(stack):
    out = stack.dir / "portrait.jp2"
    keyid = (stack.ca / "jlis-ca.keyid").read_text().strip()
    r = run(stack, "read", "--birth", BIRTH, "--expiry-year", EXPIRY_YEAR, "--code", CODE,
            "--ca", str(stack.ca / "jlis-ca.pem"), "--ca-keyid", keyid, "--out", str(out), "--presence", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    data = out.read_bytes()
    assert data[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n"  # JP2 signature box
    assert j["portrait_sha256"] == hashlib.sha256(data).hexdigest()
    assert j["portrait_bytes"] == len(data)
    assert (j["width"], j["height"]) == (300, 400)
    assert j["birth_date"] == BIRTH and j["expiry"] == "20350217" and j["sex"] == "2"
    assert j["authenticity"] == "verified"
    assert j["presence"] is True
    for secret in (PIN_B, CODE, "123456789018"):
        assert secret not in r.stdout and secret not in r.stderr


def test_read_pin_b_from_stdin_unverifiable_without_ca(stack):
    r = run(stack, "read", "--pin-b", "-", "--json", stdin=PIN_B + "\n")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["authenticity"] == "unverifiable"


def test_read_untrusted_ca_is_invalid(stack):
    # the JPKI test CA did not sign EF 0004: trusting it for any issuer must give "invalid", exit 1
    r = run(stack, "read", "--pin-b", PIN_B, "--ca", str(stack.ca / "jpki-ca.pem"), "--json")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["authenticity"] == "invalid"


def test_wrong_pin_b_reports_tries_and_correct_pin_restores(stack):
    r = run(stack, "read", "--birth", BIRTH, "--expiry-year", EXPIRY_YEAR, "--code", "9999", "--json")
    assert r.returncode == 5
    assert "9 tries left" in r.stderr and "9999" not in r.stderr
    assert tries(stack)["visual_b"] == 9
    r = run(stack, "read", "--pin-b", PIN_B, "--json")
    assert r.returncode == 0, r.stderr
    assert tries(stack)["visual_b"] == 10


def test_bad_pin_format_sends_nothing(stack):
    r = run(stack, "sign", "--auth-pin", "12345", "--in", "/etc/hostname", "--out", str(stack.dir / "x.sig"))
    assert r.returncode == 5 and "4 digits" in r.stderr
    assert tries(stack)["auth"] == 3


def test_sign_with_our_pcsc_transport_verified_by_openssl(stack):
    msg = stack.dir / "msg.txt"
    msg.write_bytes(b"facematch PC/SC signing test\n")
    sig, cert = stack.dir / "ours.sig", stack.dir / "auth.der"
    r = run(stack, "sign", "--auth-pin", "-", "--in", str(msg), "--out", str(sig), "--cert-out", str(cert), "--json",
            stdin=AUTH_PIN + "\n")
    assert r.returncode == 0, r.stderr
    assert len(sig.read_bytes()) == 256
    pub = stack.dir / "auth_pub.pem"
    subprocess.run(["openssl", "x509", "-inform", "der", "-in", str(cert), "-pubkey", "-noout", "-out", str(pub)],
                   check=True)
    v = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(sig), str(msg)],
                       capture_output=True, text=True)
    assert v.returncode == 0 and "Verified OK" in v.stdout
    # the certificate read over PC/SC is the one the card was personalised with
    exported = subprocess.run(["openssl", "x509", "-in", str(stack.ca / "auth-cert.pem"), "-outform", "der"],
                              capture_output=True, check=True).stdout
    assert exported == cert.read_bytes()
    # and it chains to the JPKI test CA
    v = subprocess.run(["openssl", "verify", "-CAfile", str(stack.ca / "jpki-ca.pem"), str(stack.ca / "auth-cert.pem")],
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr


def test_opensc_lists_jpki_certificates(stack):
    r = subprocess.run(["pkcs15-tool", "--list-certificates"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for label, path in (("User Authentication Certificate", "000a"), ("Digital Signature Certificate", "0001"),
                        ("User Authentication Certificate CA", "000b"),
                        ("Digital Signature Certificate CA", "0002")):
        assert f"[{label}]" in r.stdout
        assert f"Path           : {path}" in r.stdout
    r = subprocess.run(["pkcs15-tool", "--read-certificate", "01"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ours = (stack.ca / "auth-cert.pem").read_text()
    assert r.stdout.strip().replace("\r", "") == ours.strip()


def test_opensc_pkcs11_signs_and_openssl_verifies(stack):
    msg = stack.dir / "opensc_msg.bin"
    msg.write_bytes(os.urandom(1000))
    sig = stack.dir / "opensc.sig"
    r = subprocess.run(["pkcs11-tool", "--module", OPENSC_PKCS11, "--slot-index", "0", "--login", "--pin", AUTH_PIN,
                        "--sign", "-m", "SHA256-RSA-PKCS", "--id", "01", "-i", str(msg), "-o", str(sig)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    pub = stack.dir / "auth_pub2.pem"
    subprocess.run(["openssl", "x509", "-in", str(stack.ca / "auth-cert.pem"), "-pubkey", "-noout", "-out", str(pub)],
                   check=True)
    v = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(sig), str(msg)],
                       capture_output=True, text=True)
    assert v.returncode == 0 and "Verified OK" in v.stdout
    assert tries(stack)["auth"] == 3


def test_card_gone_is_a_clear_error(stack):
    # last test of the module: the virtual card leaves the reader
    stack.sim.terminate()
    stack.sim.wait(timeout=10)
    time.sleep(1.0)
    r = run(stack, "tries", "--timeout", "500", "--json")
    assert r.returncode == 5
    assert "no card" in r.stderr or "removed" in r.stderr, r.stderr
