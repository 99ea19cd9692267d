"""Public video-level passive decision (fm_pad_video_*, python facematch.pad): the rule on hand-made score sequences
(medians computed here with Python's statistics module), input validation through the binding, and the decision on
the per-frame scores of two short clips.csv clips (a live webcam clip and a phone-screen replay of the same man)."""
import math
import os
import statistics

import pytest

import facematch
from facematch import pad


def test_rule_matches_python_median():
    thr = pad.threshold()
    assert 0 < thr < 1
    cases = [
        [0.9, 0.95, 0.99],                      # live
        [0.0, 0.01, 0.02, 0.99, 0.99],          # a minority of live-looking frames (real face behind a screen)
        [thr * 0.5, thr * 2, thr * 3, 0.0],     # even count: mean of the two middle values
        [0.99, None, 0.98, float("nan"), 0.97],  # frames without a face are counted, not used
    ]
    for sc in cases:
        finite = [s for s in sc if s is not None and not math.isnan(s)]
        med = statistics.median(finite)
        r = pad.decide(sc)
        assert r.pushed == len(sc) and r.scored == len(finite)
        assert r.evaluated == (len(finite) >= pad.MIN_FRAMES)
        assert abs(r.median - med) < 1e-12
        assert r.passed == (r.evaluated and med >= thr)
        assert r.threshold == thr


def test_too_few_frames_and_bad_scores():
    with pad.PadVideo() as v:
        v.extend([1.0, 1.0])
        r = v.result()
        assert not r.evaluated and not r.passed
        for bad in (1.01, -0.5, float("inf")):
            with pytest.raises(facematch.InvalidArgumentError):
                v.push(bad)
        assert v.result().pushed == 2  # refused scores were not added
        v.push(1.0)
        assert v.result().passed
        v.reset()
        r = v.result()
        assert r.pushed == 0 and r.scored == 0 and math.isnan(r.median)
    with pytest.raises(facematch.StateError):
        v.push(0.5)  # closed


def test_frame_limit():
    with pad.PadVideo() as v:
        v.extend([0.9] * pad.MAX_FRAMES)
        with pytest.raises(facematch.LimitError):
            v.push(0.9)
        r = v.result()
        assert r.pushed == pad.MAX_FRAMES and r.evaluated and abs(r.median - 0.9) < 1e-12


def test_clip_scores_live_and_replay():
    """CNN-face-detection real.mp4 (live) and fake.mp4 (a phone showing the same man): per-frame fused scores from
    bench_liveness --stream (lv_pad_score, every 3rd frame, as in README "Liveness signals"), decided by the public
    accumulator. Both clips took part in choosing the threshold: a regression check of the binding and the rule."""
    pytest.importorskip("cv2", reason="python3-opencv absent")
    import liveness_video as lv
    if not os.path.exists(lv.stream_tool()):
        pytest.skip("%s not built" % lv.stream_tool())
    for rel, live in (("clips/CNN-face-detection/videos/real.mp4", True),
                      ("clips/CNN-face-detection/videos/fake.mp4", False)):
        path = os.path.join(lv.data_dir(), "video", rel)
        if not os.path.exists(path):
            pytest.skip("%s absent (shared test data)" % rel)
        _, frames, _ = lv.run_clip(path, pad_every=3, max_width=640)
        scores = [f["pad"] for f in frames]  # NaN on frames that were not scored
        r = pad.decide(scores)
        print(rel, r)
        assert r.evaluated and r.scored >= 10
        assert r.passed == live  # measured: real 0.99, fake 0.0003 (threshold 0.204)
