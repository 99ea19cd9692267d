"""Helpers for the liveness video evaluations (tests/python/test_liveness_video.py, bench README numbers).

Frames are decoded with OpenCV videoio (python3-opencv) and piped to `bench_liveness --stream` (the library's
detector, dlib 68 landmarks, EAR, fr_eye, head pose, lv_blink/lv_motion detectors); its per-frame lines and events
are parsed back. Time of a frame = CAP_PROP_POS_MSEC of the decoded frame (container timestamps: AVI packets that
are 2-byte "repeat" frames keep their slot).

ZJU time alignment: the .tag files number fewer frames than the clips have packet slots (e.g. 135 annotated frames
for 148 AVI packets, 137 for a 146-frame MP4 re-encode), so "annotation frame n at (n - 1) / fps" drifts by up to
0.4 s by the end of a clip. Fitting t = a + b (n - 1) so that the annotation's per-frame eye corners (tag fields
12-19) match the landmarks' eye corners (points 36, 39, 42, 45) gives a ~ 0 and a + b (N - 1) ~ the clip's last
frame time on 35 of 40 clips (the other 5 fits are poor: still subjects, residual > 1 px); so the annotation spans
the clip: frame n sits at (n - 1) * T_last / (N - 1). This uses the annotation's geometry, never its blink labels
(`align_fit` reproduces the fit)."""
import math
import os
import subprocess
import threading

import cv2

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def data_dir():
    return os.environ.get("FM_DATA_DIR") or os.path.join(REPO, "..", "shared", "data")


def stream_tool():
    b = os.environ.get("FM_BUILD_DIR") or os.path.join(REPO, "build")
    return os.path.join(b, "bench", "bench_liveness")


def run_clip(path, max_seconds=None, pad_every=0, max_width=None):
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise RuntimeError("cannot open " + path)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    cmd = [stream_tool(), "--stream"]
    if pad_every:
        cmd += ["--pad-every", str(pad_every)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    # drain stdout concurrently: the tool prints a line (or two) per frame and would block on a full pipe while we
    # block writing the next frame
    chunks = []
    reader = threading.Thread(target=lambda: chunks.append(p.stdout.read()))
    reader.start()
    i = 0
    last_t = -1.0
    frames = []
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if not (t > last_t):
                t = last_t + 1.0 / fps
            last_t = t
            if max_seconds is not None and t > max_seconds:
                break
            if max_width and bgr.shape[1] > max_width:
                s = max_width / bgr.shape[1]
                bgr = cv2.resize(bgr, (max_width, int(round(bgr.shape[0] * s))), interpolation=cv2.INTER_AREA)
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            h, w = rgb.shape[:2]
            p.stdin.write(b"FRAME %.6f %d %d\n" % (t, w, h))
            p.stdin.write(rgb.tobytes())
            i += 1
    finally:
        p.stdin.close()
        reader.join()
        p.wait()
    out = b"".join(chunks).decode()
    if p.returncode != 0:
        raise RuntimeError("bench_liveness --stream failed (%d)" % p.returncode)
    events = []
    for line in out.splitlines():
        f = line.split()
        if f[0] == "F":
            frames.append(dict(t=float(f[1]), faces=int(f[2]), ear=float(f[3]), p_closed=float(f[4]),
                               yaw=float(f[5]), pitch=float(f[6]), roll=float(f[7]), pad=float(f[8]),
                               corners=[float(x) for x in f[10:18]] if len(f) >= 18 else None))
        elif f[0] == "E":
            events.append((f[1], float(f[2]), float(f[3]), float(f[4])))
    return fps, frames, events


def read_tag(path):
    """ZJU .tag: returns (blinks [(first_frame, last_frame)], glasses flag). Frames are 1-based packet indices."""
    glasses = False
    blinks = {}
    started = False
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("#glasses:"):
                glasses = "YES" in line.upper()
            if line == "#start":
                started = True
                continue
            if not started or not line or line.startswith("#"):
                continue
            fs = line.split(":")
            if len(fs) < 2:
                continue
            fid, bid = int(fs[0]), int(fs[1])
            if bid >= 0:
                a, b = blinks.get(bid, (fid, fid))
                blinks[bid] = (min(a, fid), max(b, fid))
    return sorted(blinks.values()), glasses


def match_events(truth, detected, tol):
    """Greedy one-to-one matching of intervals (overlap, widened by tol seconds). Returns (tp, fp, fn)."""
    used = set()
    tp = 0
    for (a, b) in truth:
        for j, (c, d) in enumerate(detected):
            if j in used:
                continue
            if c <= b + tol and d >= a - tol:
                used.add(j)
                tp += 1
                break
    return tp, len(detected) - len(used), len(truth) - tp


def zju_clips():
    root = os.path.join(data_dir(), "video", "zju-eyeblink")
    out = []
    if not os.path.isdir(root):
        return out
    for d in sorted(os.listdir(root), key=lambda s: int(s) if s.isdigit() else 0):
        dd = os.path.join(root, d)
        vids = [x for x in os.listdir(dd) if x.endswith((".avi", ".mp4"))]
        tags = [x for x in os.listdir(dd) if x.endswith(".tag")]
        if vids and tags:
            name = os.path.splitext(vids[0])[0]
            view = "upward" if name.endswith("UNN") else "frontal"
            out.append((d, os.path.join(dd, vids[0]), os.path.join(dd, tags[0]), view))
    return out


def tag_frames(path):
    """Number of annotated frames in a ZJU .tag and their eye corners {frame: [8 floats]} (fields 12-19)."""
    corners = {}
    started = False
    n = 0
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if line == "#start":
                started = True
                continue
            if not started or not line or line.startswith("#"):
                continue
            fs = line.split(":")
            n += 1
            try:
                corners[int(fs[0])] = [float(x) for x in fs[11:19]]
            except (ValueError, IndexError):
                pass
    return n, corners


def align_fit(tag, frames):
    """Least-absolute-error fit of t = a + b (n - 1) matching the tag's eye corners to the landmarks' (see above).
    frames: run_clip's frames. Returns (a, b, mean residual px)."""
    import numpy as np
    _, ann = tag_frames(tag)
    tr = [(f["t"], f["corners"]) for f in frames if f.get("corners") and all(map(math.isfinite, f["corners"]))]
    if len(tr) < 10 or len(ann) < 10:
        return None
    T = np.array([x[0] for x in tr])
    C = np.array([x[1] for x in tr])
    C = C - C.mean(0)
    ns = np.array(sorted(ann))
    A = np.array([ann[n] for n in ns])
    A = A - A.mean(0)
    best = None
    for b in np.arange(0.85, 1.20, 0.0025) / 30.0:
        for a in np.arange(-0.4, 0.4, 0.0111):
            t = a + b * (ns - 1)
            ok = (t >= T[0]) & (t <= T[-1])
            if ok.sum() < 0.8 * len(ns):
                continue
            Y = np.stack([np.interp(t[ok], T, C[:, k]) for k in range(8)], 1)
            e = float(np.abs(Y - A[ok]).mean())
            if best is None or e < best[2]:
                best = (float(a), float(b), e)
    return best


def clip_kind(vid, view):
    return "upward" if view == "upward" else ("frontal_mp4" if vid.endswith(".mp4") else "frontal_avi")


def eval_zju(clips=None, tol=0.2, align="span"):
    """Per clip: dict(name, view, kind, subject, glasses, tp, fp, fn). align: "span" (annotation spans the clip, see
    the module doc) or "fps" (frame n at (n - 1) / fps, the naive mapping, for comparison)."""
    import re
    res = []
    for (d, vid, tag, view) in (clips or zju_clips()):
        truth_f, glasses = read_tag(tag)
        nann, _ = tag_frames(tag)
        fps, frames, events = run_clip(vid)
        fps = fps or 30.0
        t_last = frames[-1]["t"] if frames else 0.0
        step = t_last / (nann - 1) if align == "span" and nann > 1 and t_last > 0 else 1.0 / fps
        truth = [((a - 1) * step, (b - 1) * step) for (a, b) in truth_f]
        det = [(e[1], e[2]) for e in events if e[0] == "blink"]
        tp, fp, fn = match_events(truth, det, tol)
        m = re.search(r"0000(\d\d)M", os.path.basename(vid))
        res.append(dict(name=d, view=view, kind=clip_kind(vid, view), subject=int(m.group(1)) if m else 0,
                        glasses=glasses, tp=tp, fp=fp, fn=fn, truth=len(truth), frames=len(frames),
                        faces=sum(1 for f in frames if f["faces"] > 0)))
    return res


def pr(rows):
    tp = sum(r["tp"] for r in rows)
    fp = sum(r["fp"] for r in rows)
    fn = sum(r["fn"] for r in rows)
    prec = tp / (tp + fp) if tp + fp else float("nan")
    rec = tp / (tp + fn) if tp + fn else float("nan")
    return prec, rec, tp, fp, fn


if __name__ == "__main__":
    import sys
    rows = eval_zju()
    for r in rows:
        print(r)
    for name, sel in [("all", rows), ("frontal", [r for r in rows if r["view"] == "frontal"]),
                      ("frontal_avi", [r for r in rows if r["kind"] == "frontal_avi"]),
                      ("frontal_mp4", [r for r in rows if r["kind"] == "frontal_mp4"]),
                      ("upward", [r for r in rows if r["view"] == "upward"]),
                      ("frontal s1-5", [r for r in rows if r["view"] == "frontal" and r["subject"] <= 5]),
                      ("frontal s6-10", [r for r in rows if r["view"] == "frontal" and r["subject"] > 5]),
                      ("glasses", [r for r in rows if r["glasses"]]),
                      ("no glasses", [r for r in rows if not r["glasses"]])]:
        p, r_, tp, fp, fn = pr(sel)
        print("%-10s clips %2d  precision %.3f  recall %.3f  (tp %d fp %d fn %d)" % (name, len(sel), p, r_, tp, fp, fn))
    sys.exit(0)


# Turn clips: expected head motions transcribed from video/clips.csv ("nose to image-right" = the subject's own
# left = turn_left; times approximate). OpenFace's "yaw about +-20 deg 14-17" gives no direction per time: it is
# counted as one turn of either direction in 14-17.
TURN_CLIPS = [
    ("clips/liveness-detection-opencv/videos/real2.webm", None,
     [("turn_left", 1.0, 1.6), ("turn_left", 2.6, 3.5), ("turn_left", 8.3, 8.9),
      ("turn_right", 1.8, 2.2), ("turn_right", 3.8, 4.3), ("turn_right", 6.7, 7.2)]),
    ("clips/anit-spoofing/videos/real.mov", None,
     [("turn_right", 6.9, 8.8), ("turn_left", 9.3, 9.6), ("turn_left", 11.4, 11.7)]),
    ("clips/DepScopeAIDeployment/OpenFace/samples/2015-10-15-15-14.avi", None,
     [("turn_any", 14.0, 17.0), ("turn_any", 14.0, 17.0), ("nod", 18.6, 22.5)]),
]


def eval_turns(tol=0.5):
    """Per clip: expected, matched (same kind, overlapping within tol), detected events, wrong-direction turns."""
    out = []
    for rel, maxs, expected in TURN_CLIPS:
        path = os.path.join(data_dir(), "video", rel)
        if not os.path.exists(path):
            continue
        fps, frames, events = run_clip(path, max_seconds=maxs, max_width=640)
        det = [e for e in events if e[0] in ("turn_left", "turn_right", "nod")]
        used = set()
        matched = 0
        wrong_dir = 0
        for kind, a, b in expected:
            hit = None
            for j, e in enumerate(det):
                if j in used or not (e[1] <= b + tol and e[2] >= a - tol):
                    continue
                if e[0] == kind or (kind == "turn_any" and e[0].startswith("turn")):
                    hit = j
                    break
            if hit is not None:
                used.add(hit)
                matched += 1
            else:
                for j, e in enumerate(det):
                    if j not in used and e[1] <= b + tol and e[2] >= a - tol and e[0].startswith("turn") and \
                            kind.startswith("turn"):
                        wrong_dir += 1
                        break
        out.append(dict(clip=rel, expected=len(expected), matched=matched, detected=len(det),
                        unmatched_detections=len(det) - len(used), wrong_direction=wrong_dir,
                        events=[(e[0], round(e[1], 2), round(e[2], 2)) for e in det]))
    return out
