"""Live session: the service's recomputation of the challenge (Python hmac, independent of the C code, via ctypes),
and `facematch verify` on the real clips of ../shared/data/video (clips.csv).

Clip frames are cut with OpenCV's Python binding (python3-opencv) into temporary image sequences when a clip's
motions happen later than the challenge windows allow; the portrait is a frame from a DIFFERENT part of the same
clip (no second photo of these people exists in the data).
"""
import ctypes
import hashlib
import hmac
import json
import os
import subprocess

import pytest

from conftest import build_dir, data_dir

ACTIONS = {1: "blink", 2: "turn_left", 3: "turn_right", 4: "nod"}


class Challenge(ctypes.Structure):
    _fields_ = [("n_steps", ctypes.c_int), ("action", ctypes.c_int * 3), ("window_ms", ctypes.c_int * 3)]


def reference_derive(nonce: bytes):
    """The documented derivation (facematch.h [issue 5], README "session"), written from the spec."""
    d = hmac.new(b"facematch-challenge-v1", nonce, hashlib.sha256).digest()
    a = [1, 2, 3, 4]
    pos = 1
    for i in (3, 2, 1):
        m = i + 1
        limit = 256 - 256 % m
        j = 0
        while pos < 24:
            b = d[pos]
            pos += 1
            if b < limit:
                j = b % m
                break
        a[i], a[j] = a[j], a[i]
    n = 2 + (d[0] & 1)
    return [(ACTIONS[a[k]], 3000 + 250 * (d[24 + k] % 9)) for k in range(n)]


@pytest.fixture(scope="module")
def lib():
    path = os.environ.get("FACEMATCH_LIB")
    if not path or not os.path.exists(path):
        pytest.skip(f"libfacematch not built at {path}")
    lib = ctypes.CDLL(path)
    if not hasattr(lib, "fm_challenge_derive"):
        pytest.skip("this libfacematch has no fm_challenge_derive")
    lib.fm_challenge_derive.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(Challenge)]
    lib.fm_challenge_derive.restype = ctypes.c_int
    return lib


def derive(lib, nonce):
    c = Challenge()
    st = lib.fm_challenge_derive(None, nonce, len(nonce), ctypes.byref(c))
    assert st == 0
    return [(ACTIONS[c.action[k]], c.window_ms[k]) for k in range(c.n_steps)]


def test_service_recomputes_challenge(lib):
    rnd = __import__("random").Random(1234)
    for n in list(range(8, 65)) + [16] * 300:
        nonce = bytes(rnd.randrange(256) for _ in range(n))
        assert derive(lib, nonce) == reference_derive(nonce)


def test_challenge_rejects_bad_nonce_lengths(lib):
    c = Challenge()
    for n in (0, 7, 65):
        assert lib.fm_challenge_derive(None, b"\0" * max(n, 1), n, ctypes.byref(c)) == 1  # FM_ERR_INVALID_ARGUMENT


# ---- clips through the CLI -----------------------------------------------------------------------------------

CLIPS = "video/clips"


def cli():
    exe = os.path.join(build_dir(), "bin", "facematch")
    if not os.path.exists(exe):
        pytest.skip(f"CLI not built at {exe}")
    r = subprocess.run([exe, "verify", "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("this CLI has no verify command")
    return exe


@pytest.fixture(scope="module")
def video_data():
    d = data_dir()
    if not os.path.isdir(os.path.join(d, CLIPS)):
        pytest.skip(f"shared test data (video/) not found at {d}")
    try:
        import cv2  # noqa: F401
    except ImportError:
        pytest.skip("python3-opencv is needed to cut clips into frames")
    return d


def cut(path, out_dir, t0=0.0, t1=1e9, portrait_at=None, portrait_file=None):
    """Writes the frames of [t0, t1) as PNGs into out_dir (returns the clip's fps) and, optionally, the frame at
    portrait_at seconds as portrait_file."""
    import cv2
    c = cv2.VideoCapture(path)
    fps = c.get(cv2.CAP_PROP_FPS) or 30
    os.makedirs(out_dir, exist_ok=True)
    i = 0
    while True:
        ok, f = c.read()
        if not ok:
            break
        t = i / fps
        if t0 <= t < t1:
            cv2.imwrite(os.path.join(out_dir, "%06d.png" % i), f)
        if portrait_at is not None and abs(t - portrait_at) < 0.5 / fps:
            cv2.imwrite(portrait_file, f)
        i += 1
    return fps


def verify(exe, portrait, source_args, challenge=None, nonce="00112233445566778899aabbccddeeff"):
    args = [exe, "verify", "--portrait", portrait, "--nonce", nonce, "--json"] + source_args
    if challenge:
        args += ["--challenge", challenge]
    r = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert r.returncode in (0, 1), r.stderr
    res = json.loads(r.stdout)
    failed = [c["name"] for c in res["liveness"]["checks"] if c["evaluated"] and not c["pass"]]
    print(f"{source_args[-1]}: {res['decision']} distance={res['match']['distance']} reasons={res['reasons']} "
          f"failed={failed} steps={[(s['action'], s['met'], s['met_at']) for s in res['challenge']]}")
    assert (r.returncode == 0) == (res["decision"] == "match")
    return res


def test_attack_replays_never_match(video_data, tmp_path):
    exe = cli()
    d = os.path.join(video_data, CLIPS)
    # the same man's live clip gives the portrait for each replay
    real2 = os.path.join(d, "liveness-detection-opencv/videos/real2.webm")
    p_real2 = str(tmp_path / "real2.png")
    cut(real2, str(tmp_path / "unused"), t0=1e9, portrait_at=6.0, portrait_file=p_real2)
    anit_real = os.path.join(d, "anit-spoofing/videos/real.mov")
    p_anit = str(tmp_path / "anit.png")
    cut(anit_real, str(tmp_path / "unused"), t0=1e9, portrait_at=1.0, portrait_file=p_anit)
    cnn_real = os.path.join(d, "CNN-face-detection/videos/real.mp4")
    p_cnn = str(tmp_path / "cnn.png")
    cut(cnn_real, str(tmp_path / "unused"), t0=1e9, portrait_at=1.0, portrait_file=p_cnn)
    cases = [
        # fake2.webm: the replayed face turns and blinks; fix a challenge its motions fit (as real2's do)
        (p_real2, os.path.join(d, "liveness-detection-opencv/videos/fake2.webm"), "turn_right,turn_left"),
        (p_real2, os.path.join(d, "liveness-detection-opencv/videos/fake2.webm"), "blink"),
        (p_real2, os.path.join(d, "liveness-detection-opencv/videos/fake2.webm"), None),
        (p_anit, os.path.join(d, "anit-spoofing/videos/fake.mp4"), None),
        (p_cnn, os.path.join(d, "CNN-face-detection/videos/fake.mp4"), None),
    ]
    for portrait, clip, ch in cases:
        res = verify(exe, portrait, ["--video", clip], challenge=ch)
        assert res["decision"] != "match", clip
        assert res["reasons"], clip


def test_challenge_not_performed_never_matches(video_data, tmp_path):
    """CNN-face-detection/real.mp4: 3.8 s, frontal, little motion — the derived challenge is not performed."""
    exe = cli()
    clip = os.path.join(video_data, CLIPS, "CNN-face-detection/videos/real.mp4")
    portrait = str(tmp_path / "p.png")
    cut(clip, str(tmp_path / "unused"), t0=1e9, portrait_at=3.0, portrait_file=portrait)
    for nonce in ("00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100"):
        res = verify(exe, portrait, ["--video", clip], nonce=nonce)
        assert res["decision"] in ("inconclusive", "spoof_suspected")
        assert res["challenge_fixed"] is False


def test_live_clip_with_fitting_challenge(video_data, tmp_path):
    """real2.webm: the subject turns to his own right (nose to image-left) at ~1.8 s and to his left at ~2.6 s.
    With that challenge fixed (testing option, recorded in the result) and a frame from 6 s as the portrait, the
    challenge must be met in order and the face must match; the decision is match unless the passive score
    rejects this strongly backlit live clip (known, reported in README "session")."""
    exe = cli()
    clip = os.path.join(video_data, CLIPS, "liveness-detection-opencv/videos/real2.webm")
    portrait = str(tmp_path / "p.png")
    cut(clip, str(tmp_path / "unused"), t0=1e9, portrait_at=6.0, portrait_file=portrait)
    res = verify(exe, portrait, ["--video", clip], challenge="turn_right,turn_left")
    assert res["challenge_fixed"] is True and "challenge_fixed_for_testing" in res["reasons"]
    assert [s["action"] for s in res["challenge"]] == ["turn_right", "turn_left"]
    assert res["match"]["distance"] < res["match"]["threshold"]
    assert "identity_changed" not in res["reasons"]
    if "passive_spoof" in res["reasons"] or not all(s["met"] for s in res["challenge"]):
        pytest.xfail(f"live clip not accepted: {res['reasons']} (see README 'session': known limitation)")
    assert res["decision"] == "match"


def test_realtime_playback_and_signed_verdict(video_data, tmp_path):
    """--realtime plays the file at its frame timing; --key writes a verdict that verifies with PyJWT."""
    exe = cli()
    jwt = pytest.importorskip("jwt")
    clip = os.path.join(video_data, CLIPS, "CNN-face-detection/videos/fake.mp4")  # 2.6 s
    key = str(tmp_path / "k.pem")
    r = subprocess.run([exe, "keygen", "--out", key], capture_output=True, text=True)
    if r.returncode != 0:
        r = subprocess.run([exe, "keygen", key], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    portrait = str(tmp_path / "p.png")
    cut(os.path.join(video_data, CLIPS, "CNN-face-detection/videos/real.mp4"), str(tmp_path / "u"), t0=1e9,
        portrait_at=1.0, portrait_file=portrait)
    out = str(tmp_path / "v.jws")
    import time
    t = time.monotonic()
    r = subprocess.run([exe, "verify", "--portrait", portrait, "--video", clip, "--realtime", "--nonce",
                        "0123456789abcdef0123456789abcdef", "--key", key, "--out", out, "--aud", "test-service",
                        "--json"], capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - t
    assert r.returncode in (0, 1), r.stderr
    res = json.loads(r.stdout)
    assert res["decision"] != "match"
    assert elapsed >= 2.0  # not faster than the clip's own duration (2.6 s)
    token = open(out).read().strip()
    pub = subprocess.run([exe, "pubkey", key], capture_output=True, text=True).stdout
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["decision"] == res["decision"]
    assert claims["nonce"] == "0123456789abcdef0123456789abcdef"
    if "BEGIN PUBLIC KEY" in pub:
        pem = pub[pub.index("-----BEGIN PUBLIC KEY-----"):pub.index("-----END PUBLIC KEY-----") + 24]
        jwt.decode(token, pem, algorithms=["ES256", "EdDSA"], audience="test-service")
