#!/usr/bin/python3
"""Calibrates the passive anti-spoof score (facematch/src/liveness/liveness_pad.c) on a documented split of
liveness/pad.csv, reports APCER per attack type / BPCER on the held-out rest, and chooses the video-level rule.

usage: bench/pad_calibrate.py PER_IMAGE.csv [STREAM.txt ...] [--features LIST] [--heldout STREAM.txt ...]
  PER_IMAGE.csv: the --out file of `facematch pad-eval`, run with the current build
  STREAM.txt:    `bench_liveness --stream --pad-every N` outputs of the clips in video/clips.csv (file names contain the
                 clip's path with / replaced by _); their "P" lines carry the per-frame score inputs. These clips
                 choose the video threshold.
  --features:    comma list out of logit,moire,specular,colour (default: logit = fr_liveness alone, which is what
                 liveness_pad.c ships since the franck.mp4 finding, README "Liveness signals"). With "logit" alone the
                 score is model_live itself (no fit: a monotone recalibration changes no decision); with more, a
                 logistic regression (Newton/IRLS, L2 1e-2) is fitted on the calibration split.
  --heldout:     streams of LIVE footage never used for any choice (franck.mp4, ZJU clips, the cap12/cap13 samples):
                 reported at the chosen rule, per clip and per 10 s window (what a session sees).

Video-level rule (what the session uses): median of the per-frame scores >= T_video, with
T_video = min(still threshold, half the lowest live-clip median): the attack clips' medians are ~0, far below.
Leave-one-clip-out (T_video re-chosen without the clip) reports how each clip would have been decided had it been held
out. The stills of the held-out split are also reported at T_video (a still photo presented as a sequence scores like
the still).

Split (fixed, by subject or by recording so near-duplicate frames never straddle it):
  calibration: nuaa-train subjects 0001-0005 (live and print_photo), screen-replay-crops images whose file number is
               below the set's median (frames of the same recordings are numbered consecutively)
  held out:    nuaa-train subjects 0006 and later, screen-replay-crops numbers at or above the median, vendor-samples
Threshold: the calibration split's operating point minimising max(worst APCER, BPCER)."""
import argparse
import csv
import math
import os
import re

import numpy as np

NAMES = ["logit", "moire", "specular", "colour"]


def load(path):
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append(dict(r, scored=r["decision"] != "no_face"))
    return rows


def split_of(r, sr_median):
    p = r["path"]
    if "/nuaa-train/" in p:
        m = re.search(r"/(\d{4})/", p)
        return "cal" if m and int(m.group(1)) <= 5 else "test"
    if "/screen-replay-crops/" in p:
        n = int(re.search(r"(\d+)\.\w+$", p).group(1))
        return "cal" if n < sr_median[r["label"]] else "test"
    return "test"


def raw_feats(model_live, moire, specular, colour):
    """features with NaN where a cue could not be measured (small face, face at the border)"""
    p = min(max(model_live, 1e-6), 1 - 1e-6) if math.isfinite(model_live) else 0.5
    return [math.log(p / (1 - p)), moire, specular, colour]


def metrics(rows, score, thr):
    live = [r for r in rows if r["label"] == "live" and r["scored"]]
    bpcer = sum(1 for r in live if score(r) < thr) / max(1, len(live))
    ap = {}
    for r in rows:
        if r["label"] == "spoof" and r["scored"]:
            a = ap.setdefault(r["attack"], [0, 0])
            a[0] += 1
            a[1] += score(r) >= thr
    return bpcer, len(live), {k: (v[1] / v[0], v[1], v[0]) for k, v in ap.items()}


def best_thr(rows, score):
    cands = sorted(set(score(r) for r in rows if r["scored"]))
    best = None
    for t in cands:
        b, _, ap = metrics(rows, score, t)
        worst = max(v[0] for v in ap.values()) if ap else 0
        c = max(worst, b)
        if best is None or c < best[0] - 1e-12:
            best = (c, t)
    return best[1]


class Scorer:
    """score(model_live, moire, specular, colour) -> probability live"""

    def __init__(self, feats, cal):
        self.idx = [NAMES.index(f) for f in feats]
        self.alone = feats == ["logit"]
        if self.alone:
            return
        X = np.array([[raw_feats(*r["x"])[i] for i in self.idx] for r in cal])
        # a cue that could not be measured counts as the calibration split's mean (neutral), never as 0 (which
        # would move the score by -w*mean, e.g. towards "live" for a negative weight)
        self.fill = np.nanmean(X, 0)
        X = np.where(np.isfinite(X), X, self.fill)
        y = np.array([1.0 if r["label"] == "live" else 0.0 for r in cal])
        mu, sd = X.mean(0), X.std(0) + 1e-9
        Z = np.hstack([np.ones((len(X), 1)), (X - mu) / sd])
        w = np.zeros(Z.shape[1])
        for _ in range(50):
            p = 1 / (1 + np.exp(-Z @ w))
            g = Z.T @ (p - y) + 1e-2 * np.r_[0, w[1:]]
            H = (Z * (p * (1 - p))[:, None]).T @ Z + 1e-2 * np.diag(np.r_[0, np.ones(len(w) - 1)])
            step = np.linalg.solve(H, g)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        # back to the original scale: z = b + sum w_i (x_i - mu_i) / sd_i
        self.wo = w[1:] / sd
        self.bo = w[0] - (w[1:] * mu / sd).sum()

    def describe(self):
        if self.alone:
            return "score = fr_liveness model_live (no fusion)"
        return ("fusion weights (original scale): bias %.6f, " % self.bo + ", ".join(
            "%s %.6f" % (NAMES[i], w) for i, w in zip(self.idx, self.wo)) +
            "\nfill for unmeasured cues (calibration means): " + ", ".join(
            "%s %.6f" % (NAMES[i], f) for i, f in zip(self.idx, self.fill)))

    def __call__(self, model_live, moire, specular, colour):
        if self.alone:
            return model_live if math.isfinite(model_live) else 0.0
        x = raw_feats(model_live, moire, specular, colour)
        z = self.bo + sum(w * (x[i] if math.isfinite(x[i]) else f)
                          for i, w, f in zip(self.idx, self.wo, self.fill))
        return 1 / (1 + math.exp(-max(-700.0, min(700.0, z))))


def read_stream(path, scorer):
    """(t, score) per P line; t from the F line before it"""
    out, t = [], None
    for line in open(path):
        if line.startswith("F "):
            t = float(line.split()[1])
        elif line.startswith("P ") and t is not None:
            v = [float(x) for x in line.split()[1:5]]
            out.append((t, scorer(*v)))
    return out


def windows(ts, secs=10.0, step=5.0):
    """medians of the scores in [t, t + secs) windows every step seconds holding >= 10 scores"""
    if not ts:
        return []
    t = np.array([a for a, _ in ts])
    s = np.array([b for _, b in ts])
    res, w0 = [], t[0]
    while w0 + secs <= t[-1] + 1e-9 or (w0 == t[0]):
        sel = (t >= w0) & (t < w0 + secs)
        if sel.sum() >= 10:
            res.append(float(np.median(s[sel])))
        w0 += step
        if w0 > t[-1]:
            break
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("streams", nargs="*")
    ap.add_argument("--features", default="logit")
    ap.add_argument("--heldout", nargs="*", default=[])
    a = ap.parse_args()
    feats = a.features.split(",")
    for f in feats:
        if f not in NAMES:
            raise SystemExit("unknown feature %s" % f)

    rows = load(a.csv)
    for r in rows:
        r["x"] = [float(r[k]) for k in ("model_live", "moire", "specular", "colour")] if r["scored"] else None
    nums = {"live": [], "spoof": []}
    for r in rows:
        if "/screen-replay-crops/" in r["path"]:
            nums[r["label"]].append(int(re.search(r"(\d+)\.\w+$", r["path"]).group(1)))
    sr_median = {k: (sorted(v)[len(v) // 2] if v else 0) for k, v in nums.items()}
    for r in rows:
        r["split"] = split_of(r, sr_median)
    cal = [r for r in rows if r["split"] == "cal" and r["scored"]]
    test = [r for r in rows if r["split"] == "test"]
    scorer = Scorer(feats, cal)

    def sc(r):
        return scorer(*r["x"])

    print("features: %s" % ",".join(feats))
    print("split: calibration %d scored images, held out %d (%d scored)" %
          (len(cal), len(test), sum(1 for r in test if r["scored"])))
    print("no face: %d live, %d spoof (all splits)" %
          (sum(1 for r in rows if not r["scored"] and r["label"] == "live"),
           sum(1 for r in rows if not r["scored"] and r["label"] == "spoof")))
    print(scorer.describe())
    still_t = best_thr(cal, sc)
    print("still threshold %.6f (chosen on calibration)" % still_t)

    def report(name, sel, t):
        b, nl, aps = metrics(sel, sc, t)
        s = ", ".join("APCER %s %.4f (%d/%d)" % (k, v[0], v[1], v[2]) for k, v in sorted(aps.items()))
        print("  %-26s BPCER %.4f (%d live) | %s" % (name, b, nl, s))
    report("calibration", cal, still_t)
    report("held out", test, still_t)
    for src in ("nuaa-train", "screen-replay-crops", "vendor-samples"):
        report("  held out, " + src, [r for r in test if "/%s/" % src in r["path"]], still_t)
    if a.streams or a.heldout:
        video(a.streams, a.heldout, scorer, test, still_t, report)


def video(streams, heldout, scorer, test, still_t, report):
    labels = {}
    d = os.environ.get("FM_DATA_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                      "shared", "data")
    with open(os.path.join(d, "video", "clips.csv")) as f:
        for r in csv.DictReader(f):
            labels[r["path"].replace("/", "_")] = r["label"]
    clips = []
    for sp in streams:
        base = os.path.basename(sp)
        lab = next((v for k, v in labels.items() if k in base), None)
        if lab is None:
            print("  (skipped %s: not in clips.csv)" % base)
            continue
        ts = read_stream(sp, scorer)
        if len(ts) < 3:
            continue
        clips.append((base, lab, float(np.median([s for _, s in ts])), len(ts), windows(ts)))

    def choose(cs):
        live = [c[2] for c in cs if c[1] == "live"]
        return min(still_t, 0.5 * min(live)) if live else None

    t = choose(clips)
    if t is None:
        t = still_t
    print("video: %d clips; T_video = %.6f (median >= min(still threshold, half the lowest live median))" %
          (len(clips), t))
    errs = 0
    for c in clips:
        tl = choose([d for d in clips if d is not c])
        ok_all = (c[2] >= t) == (c[1] == "live")
        ok_loo = tl is not None and (c[2] >= tl) == (c[1] == "live")
        errs += not ok_loo
        wp = sum(1 for m in c[4] if m >= t)
        print("  %-58s %-26s median %.4f (%4d frames) %-5s | 10 s windows pass %d/%d | left out: T %.4f -> %s" %
              (c[0][:58], c[1], c[2], c[3], "ok" if ok_all else "WRONG", wp, len(c[4]),
               tl if tl else float("nan"), "ok" if ok_loo else "WRONG"))
    print("  leave-one-clip-out errors: %d of %d clips" % (errs, len(clips)))
    report("held-out stills at T_video", test, t)
    if heldout:
        print("held-out live streams (never used for a choice) at T_video %.4f:" % t)
        nw = nwp = nc = ncp = 0
        for sp in heldout:
            ts = read_stream(sp, scorer)
            if len(ts) < 3:
                print("  %-58s (fewer than 3 scored frames)" % os.path.basename(sp))
                continue
            med = float(np.median([s for _, s in ts]))
            w = windows(ts)
            wp = sum(1 for m in w if m >= t)
            nc += 1
            ncp += med >= t
            nw += len(w)
            nwp += wp
            print("  %-58s median %.4f (%4d frames) %-4s | 10 s windows pass %d/%d (min %.4f)" %
                  (os.path.basename(sp)[:58], med, len(ts), "pass" if med >= t else "FAIL", wp, len(w),
                   min(w) if w else float("nan")))
        print("  held-out live: clips pass %d/%d, 10 s windows pass %d/%d" % (ncp, nc, nwp, nw))
    return t


if __name__ == "__main__":
    main()
