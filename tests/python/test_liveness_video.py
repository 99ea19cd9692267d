"""Liveness signals on real footage (slow: decodes every clip): ZJU blink annotations, head turns at the times
listed in video/clips.csv, passive PAD on a subset of liveness/pad.csv.

Floors are the values measured when the detectors were tuned (README "Liveness signals") minus a margin; they
catch regressions, not a target. Skips when the shared data, python3-opencv or the build's bench_liveness / CLI
are absent."""
import json
import os
import subprocess
import tempfile

import pytest

cv2 = pytest.importorskip("cv2", reason="python3-opencv is needed to decode the clips")

import liveness_video as lv  # noqa: E402


def _need():
    if not os.path.isdir(os.path.join(lv.data_dir(), "video")):
        pytest.skip("shared data absent (%s): set FM_DATA_DIR" % lv.data_dir())
    if not os.path.exists(lv.stream_tool()):
        pytest.skip("%s not built" % lv.stream_tool())


def test_zju_blinks_frontal_and_upward():
    _need()
    clips = lv.zju_clips()
    if not clips:
        pytest.skip("zju-eyeblink absent")
    rows = lv.eval_zju(clips)  # annotation spans each clip (liveness_video.py doc: fitted on eye corners)
    sets = {k: lv.pr([r for r in rows if r["kind"] == k]) for k in ("frontal_avi", "frontal_mp4", "upward")}
    pf, rf, *_ = lv.pr([r for r in rows if r["view"] == "frontal"])
    print("frontal P %.3f R %.3f" % (pf, rf), {k: (round(v[0], 3), round(v[1], 3)) for k, v in sets.items()})
    # measured 2026-11-23 (README): frontal P 0.990 R 0.908 (99/109); AVI P 1.000 R 0.944; MP4 re-encodes
    # P 0.938 R 0.750; upward P 0.950 R 0.950. The target (R >= 0.9 at P >= 0.9 on frontal clips):
    assert pf >= 0.90
    assert rf >= 0.90
    assert sets["frontal_avi"][0] >= 0.93 and sets["frontal_avi"][1] >= 0.90
    assert sets["frontal_mp4"][0] >= 0.80 and sets["frontal_mp4"][1] >= 0.65
    assert sets["upward"][0] >= 0.85 and sets["upward"][1] >= 0.85
    # every clip has a face in (nearly) every frame: the detector and landmarks ran
    assert all(r["faces"] >= 0.95 * r["frames"] for r in rows)


def test_turn_clips():
    _need()
    res = lv.eval_turns()
    if not res:
        pytest.skip("turn clips absent")
    for r in res:
        print(r)
    matched = sum(r["matched"] for r in res)
    expected = sum(r["expected"] for r in res)
    extra = sum(r["unmatched_detections"] for r in res)
    wrong = sum(r["wrong_direction"] for r in res)
    # measured (README): 11 of 12 expected motions at the default 15 deg (real2 5/6, real.mov 3/3, OpenFace 3/3),
    # 3 detections not in clips.csv; directions must never be swapped wholesale
    assert matched >= 10
    assert extra <= 5
    assert wrong <= 1
    real2 = [r for r in res if r["clip"].endswith("real2.webm")]
    if real2:  # the session relies on this one: turn_left at ~2.6-3.5 s
        assert any(e[0] == "turn_left" and e[1] <= 4.0 and e[2] >= 2.1 for e in real2[0]["events"])


PAD_CLIPS = [("clips/liveness-detection-opencv/videos/fake2.webm", False),
             ("clips/anit-spoofing/videos/fake.mp4", False),
             ("clips/CNN-face-detection/videos/fake.mp4", False),
             ("clips/liveness-detection-opencv/videos/real2.webm", True),
             ("clips/anit-spoofing/videos/real.mov", True),
             ("clips/CNN-face-detection/videos/real.mp4", True)]


def test_pad_video_rule_on_clips():
    """Video-level passive rule (lv_pad_video: median of per-frame fused >= threshold) on the replay/screen attack
    clips and live clips of clips.csv. These clips took part in choosing the threshold (README): a regression check,
    not a held-out estimate."""
    _need()
    import statistics
    thr = 0.204224  # liveness_pad.c k_video_threshold
    for rel, live in PAD_CLIPS:
        path = os.path.join(lv.data_dir(), "video", rel)
        if not os.path.exists(path):
            continue
        _, frames, _ = lv.run_clip(path, pad_every=3, max_width=640)
        pads = [f["pad"] for f in frames if f["pad"] == f["pad"]]
        assert len(pads) >= 10, rel
        med = statistics.median(pads)
        print(rel, "median fused %.4f over %d frames" % (med, len(pads)))
        # measured (inner-face colour cue, refit 2026-11-23): attacks fake2 0.0000, anit fake 0.0041, CNN fake 0.0003;
        # live real2 0.43, real.mov 0.41, CNN real 0.99
        if live:
            assert med >= thr, rel
        else:
            assert med < 0.02, rel


def test_pad_video_rule_franck_held_out():
    """samples/media/franck.mp4 (live, 360x288 MPEG, blue studio wall) was never used for a PAD choice. Before the
    colour cue was restricted to the inner face, every scored frame fused to ~0.000 while fr_liveness alone gave
    0.9999 (README "Liveness signals"): the fused score must now follow the model on this live footage, in the
    session's demo segment 17.25-28.95 s and in 0-23 s."""
    _need()
    import statistics
    path = os.path.join(lv.REPO, "samples", "media", "franck.mp4")
    if not os.path.exists(path):
        pytest.skip("samples/media/franck.mp4 absent (fetched by the set-up script)")
    thr = 0.204224
    _, frames, _ = lv.run_clip(path, max_seconds=29.0, pad_every=6)
    for t0, t1 in ((17.25, 28.95), (0.0, 23.0)):
        pads = [f["pad"] for f in frames if f["pad"] == f["pad"] and t0 <= f["t"] <= t1]
        assert len(pads) >= 10
        med = statistics.median(pads)
        print("franck %.2f-%.2f s: median fused %.4f over %d frames, min %.4f" % (t0, t1, med, len(pads), min(pads)))
        assert med >= thr  # measured: 0.9995 (every 6th frame of the whole clip), 38/38 10-s windows pass


def test_pad_eval_subset():
    data = lv.data_dir()
    csvp = os.path.join(data, "liveness", "pad.csv")
    if not os.path.exists(csvp):
        pytest.skip("liveness/pad.csv absent")
    b = os.environ.get("FM_BUILD_DIR") or os.path.join(lv.REPO, "build")
    cli = os.path.join(b, "bin", "facematch")
    if not os.path.exists(cli):
        pytest.skip("%s not built" % cli)
    lines = open(csvp).read().splitlines()
    # every 6th image of the held-out part (nuaa subjects >= 0006; see bench/pad_calibrate.py for the split)
    keep = [lines[0]] + [l for i, l in enumerate(lines[1:]) if i % 6 == 0 and "/nuaa-train/" in l and
                         int(l.split("/")[4]) >= 6]
    with tempfile.TemporaryDirectory() as td:
        lst = os.path.join(td, "subset.csv")
        out = os.path.join(td, "per.csv")
        open(lst, "w").write("\n".join(keep) + "\n")
        p = subprocess.run([cli, "pad-eval", "--list", lst, "--root", data, "--json", "--out", out],
                           capture_output=True, text=True, timeout=1200)
        assert p.returncode == 0, p.stderr
        j = json.loads(p.stdout)
        per = open(out).read().splitlines()
    assert len(per) == len(keep)  # header + one row per image
    assert 0 < j["threshold"] < 1
    ap = {a["attack"]: a for a in j["apcer"]}
    assert "print_photo" in ap
    # held-out NUAA (README, fr_liveness fed BGR + refitted fusion): print_photo APCER 0.011, BPCER 0.070 — floors
    # with margin for this smaller subset
    assert ap["print_photo"]["value"] <= 0.06
    assert j["bpcer"]["value"] <= 0.20
    # bad usage is refused
    p = subprocess.run([cli, "pad-eval", "--threshold", "2", "--list", lst], capture_output=True, text=True)
    assert p.returncode == 2
