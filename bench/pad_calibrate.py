#!/usr/bin/python3
"""Calibrates the passive anti-spoof fusion (facematch/src/liveness/liveness_pad.c) on a documented split of
liveness/pad.csv, and reports APCER per attack type / BPCER on the held-out rest.

usage: bench/pad_calibrate.py PER_IMAGE.csv [STREAM.txt ...]
  PER_IMAGE.csv: the --out file of `facematch pad-eval`, run with the current build
  STREAM.txt: `bench_liveness --stream --pad-every N` outputs of the clips in video/clips.csv (file names contain the
              clip's path with / replaced by _); their "P" lines carry the per-frame fusion inputs

Video-level rule (what the session uses): median of the per-frame fused scores >= T_video, with
T_video = min(still threshold, half the lowest live-clip median): the attack clips' medians are ~0, far below, and the
held-out stills' error curve is flat between ~0.1 and the still threshold. Leave-one-clip-out (T_video re-chosen without
the clip) reports how each clip would have been decided had it been held out. The stills of
the held-out split are also reported at T_video (a still photo presented as a sequence scores like the still).

Split (fixed, by subject or by recording so near-duplicate frames never straddle it):
  calibration: nuaa-train subjects 0001-0005 (live and print_photo), screen-replay-crops images whose file number is
               below the set's median (frames of the same recordings are numbered consecutively)
  held out:    nuaa-train subjects 0006 and later, screen-replay-crops numbers at or above the median, vendor-samples
Features: logit(model_live), moire, specular, colour (standardised on the calibration split); logistic regression
(Newton/IRLS, L2 1e-2). Threshold: the calibration split's operating point minimising max(worst APCER, BPCER).
Compares with fr_liveness alone (model_live) at its own threshold chosen the same way. Prints weights in the
original feature scale for liveness_pad.c."""
import csv
import math
import re
import sys

import numpy as np


def load(path):
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            if r["decision"] == "no_face":
                rows.append(dict(r, scored=False))
                continue
            rows.append(dict(r, scored=True))
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


def feats(r):
    p = min(max(float(r["model_live"]), 1e-6), 1 - 1e-6)
    x = [math.log(p / (1 - p)), float(r["moire"]), float(r["specular"]), float(r["colour"])]
    return [v if math.isfinite(v) else 0.0 for v in x]


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


def main():
    rows = load(sys.argv[1])
    nums = {"live": [], "spoof": []}
    for r in rows:
        if "/screen-replay-crops/" in r["path"]:
            nums[r["label"]].append(int(re.search(r"(\d+)\.\w+$", r["path"]).group(1)))
    sr_median = {k: (sorted(v)[len(v) // 2] if v else 0) for k, v in nums.items()}
    for r in rows:
        r["split"] = split_of(r, sr_median)
    cal = [r for r in rows if r["split"] == "cal" and r["scored"]]
    test = [r for r in rows if r["split"] == "test"]
    X = np.array([feats(r) for r in cal])
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
    wo = w[1:] / sd
    bo = w[0] - (w[1:] * mu / sd).sum()

    def fused(r):
        x = np.array(feats(r))
        return 1 / (1 + math.exp(-(bo + (wo * x).sum())))

    def model(r):
        return float(r["model_live"])

    print("split: calibration %d scored images, held out %d (%d scored)" %
          (len(cal), len(test), sum(1 for r in test if r["scored"])))
    print("no face: %d live, %d spoof (all splits)" %
          (sum(1 for r in rows if not r["scored"] and r["label"] == "live"),
           sum(1 for r in rows if not r["scored"] and r["label"] == "spoof")))
    print("fusion weights (original scale): bias %.6f, logit(model) %.6f, moire %.6f, specular %.6f, colour %.6f"
          % (bo, wo[0], wo[1], wo[2], wo[3]))
    still_t = None
    for name, sc in (("model alone", model), ("fused", fused)):
        t = best_thr(cal, sc)
        still_t = t
        print("%s: threshold %.6f (chosen on calibration)" % (name, t))
        for sname, sel in (("calibration", cal), ("held out", test)):
            b, nl, ap = metrics(sel, sc, t)
            s = ", ".join("APCER %s %.4f (%d/%d)" % (k, v[0], v[1], v[2]) for k, v in sorted(ap.items()))
            print("  %-11s BPCER %.4f (%d live) | %s" % (sname, b, nl, s))
    if len(sys.argv) > 2:
        video(sys.argv[2:], bo, wo, rows, still_t)


def video(streams, bo, wo, still_rows, still_t):
    import os
    labels = {}
    csvp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "video", "clips.csv")
    csvp = os.path.join(os.environ.get("FM_DATA_DIR", os.path.dirname(csvp)), "video", "clips.csv") \
        if os.environ.get("FM_DATA_DIR") else csvp
    with open(csvp) as f:
        for r in csv.DictReader(f):
            labels[r["path"].replace("/", "_")] = r["label"]
    clips = []
    for sp in streams:
        base = os.path.basename(sp)
        lab = next((v for k, v in labels.items() if k in base), None)
        if lab is None:
            print("  (skipped %s: not in clips.csv)" % base)
            continue
        z = []
        for line in open(sp):
            if line.startswith("P "):
                m, mo, sp_, co = (float(x) for x in line.split()[1:5])
                p = min(max(m, 1e-6), 1 - 1e-6)
                x = np.array([math.log(p / (1 - p)), mo, sp_, co])
                x = np.where(np.isfinite(x), x, 0.0)
                z.append(1 / (1 + math.exp(-(bo + (wo * x).sum()))))
        if len(z) < 3:
            continue
        clips.append((base, lab, float(np.median(z)), len(z)))

    def choose(cs):
        live = [c[2] for c in cs if c[1] == "live"]
        if not live:
            return None
        return min(still_t, 0.5 * min(live))

    t = choose(clips)
    print("video: %d clips; T_video = %.4f (median fused >= min(still threshold, half the lowest live median))" %
          (len(clips), t))
    errs = 0
    for c in clips:
        tl = choose([d for d in clips if d is not c])
        ok_all = (c[2] >= t) == (c[1] == "live")
        ok_loo = tl is not None and (c[2] >= tl) == (c[1] == "live")
        errs += not ok_loo
        print("  %-62s %-28s median %.4f (%4d frames) %s | left out: T %.4f -> %s" %
              (c[0][:62], c[1], c[2], c[3], "ok" if ok_all else "WRONG", tl if tl else float("nan"),
               "ok" if ok_loo else "WRONG"))
    print("  leave-one-clip-out errors: %d of %d clips" % (errs, len(clips)))
    test = [r for r in still_rows if r["split"] == "test"]

    def fused(r):
        x = np.array(feats(r))
        return 1 / (1 + math.exp(-(bo + (wo * x).sum())))
    b, nl, ap = metrics(test, fused, t)
    print("  held-out stills at T_video: BPCER %.4f (%d live) | %s" %
          (b, nl, ", ".join("APCER %s %.4f (%d/%d)" % (k, v[0], v[1], v[2]) for k, v in sorted(ap.items()))))
    return t


if __name__ == "__main__":
    main()
