#!/usr/bin/python3
"""Fits the mapping from UltraFace (fr_detect.onnx) boxes to dlib detector boxes, so that fast-detector boxes feed
dlib's 5-point shape predictor the way it was trained (on dlib detector boxes).

usage: face_calibrate_fast.py ORACLE_DUMP ULTRAFACE_DUMP
       face_calibrate_fast.py --refine ORACLE_DUMP
  ORACLE_DUMP:    output of tests/oracle/face_oracle (lines "I path w h", "H n l t r b ...")
  ULTRAFACE_DUMP: lines "U path n x1 y1 x2 y2 score ..." (UltraFace boxes in image pixels, x2/y2 exclusive)
Uses the images where dlib's HOG detector finds exactly one face and an UltraFace box overlaps it (IoU > 0.3).
Model: dlib box centre = UltraFace centre + (dx * w, dy * h); dlib box side = s * sqrt(w * h) (dlib boxes are square).
Prints the medians of dx, dy, s and the mean IoU to the dlib boxes before and after the mapping.

--refine: the box-refinement estimate (engine.c REFINE_*, fm_detect_options.refine): dlib's HOG box from dlib's 5
points (the oracle's P5 line, fitted on that box), on the images where HOG finds exactly one face. With m the points'
centroid and s their RMS distance from m: centre = m + s * (dx, dy), side = k * s. Prints the medians of dx, dy, k
and the mean IoU of the estimated box with dlib's box, in-sample and leave-one-out.
"""
import sys
import statistics


def iou(a, b):
    l, t, r, bb = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    if l >= r or t >= bb:
        return 0.0
    inter = (r - l) * (bb - t)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def refine_fit(path):
    rows = []
    cur, hog = None, None
    for line in open(path):
        f = line.split()
        if not f:
            continue
        if f[0] == 'I':
            cur, hog = f[1], None
        elif f[0] == 'H':
            hog = tuple(map(float, f[2:6])) if int(f[1]) == 1 else None
        elif f[0] == 'P5' and hog:
            p = [tuple(map(float, f[1 + 2 * k:3 + 2 * k])) for k in range(5)]
            mx, my = sum(x for x, _ in p) / 5, sum(y for _, y in p) / 5
            s = (sum((x - mx) ** 2 + (y - my) ** 2 for x, y in p) / 5) ** 0.5
            l, t, r, b = hog
            rows.append(((mx, my, s), ((l + r + 1) / 2 - mx) / s, ((t + b + 1) / 2 - my) / s, (r - l + 1) / s,
                         (l, t, r + 1, b + 1)))

    def box(m, dx, dy, k):
        cx, cy, side = m[0] + dx * m[2], m[1] + dy * m[2], k * m[2]
        return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)

    med = [statistics.median(r[i] for r in rows) for i in (1, 2, 3)]
    ins = [iou(box(r[0], *med), r[4]) for r in rows]
    loo = []
    for j, r in enumerate(rows):
        o = [q for i, q in enumerate(rows) if i != j]
        loo.append(iou(box(r[0], *[statistics.median(q[i] for q in o) for i in (1, 2, 3)]), r[4]))
    print('images %d  dx %.4f  dy %.4f  side %.4f  mean IoU in-sample %.4f leave-one-out %.4f' %
          (len(rows), med[0], med[1], med[2], statistics.mean(ins), statistics.mean(loo)))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--refine':
        refine_fit(sys.argv[2])
        return
    hog = {}
    cur = None
    for line in open(sys.argv[1]):
        f = line.split()
        if not f:
            continue
        if f[0] == 'I':
            cur = f[1]
        elif f[0] == 'H' and cur:
            n = int(f[1])
            if n == 1:
                l, t, r, b = map(float, f[2:6])
                hog[cur] = (l, t, r + 1, b + 1)  # continuous, exclusive far edge
    pairs = []
    for line in open(sys.argv[2]):
        f = line.split()
        if not f or f[0] != 'U' or f[1] not in hog:
            continue
        n = int(f[2])
        boxes = [tuple(map(float, f[3 + 5 * k:7 + 5 * k])) for k in range(n)]
        if not boxes:
            continue
        h = hog[f[1]]
        u = max(boxes, key=lambda x: iou(x, h))
        if iou(u, h) > 0.3:
            pairs.append((u, h))
    dxs, dys, ss = [], [], []
    for u, h in pairs:
        uw, uh = u[2] - u[0], u[3] - u[1]
        ucx, ucy = (u[0] + u[2]) / 2, (u[1] + u[3]) / 2
        hcx, hcy = (h[0] + h[2]) / 2, (h[1] + h[3]) / 2
        dxs.append((hcx - ucx) / uw)
        dys.append((hcy - ucy) / uh)
        ss.append((h[2] - h[0]) / (uw * uh) ** 0.5)
    dx, dy, s = statistics.median(dxs), statistics.median(dys), statistics.median(ss)
    before, after = [], []
    for u, h in pairs:
        uw, uh = u[2] - u[0], u[3] - u[1]
        cx, cy = (u[0] + u[2]) / 2 + dx * uw, (u[1] + u[3]) / 2 + dy * uh
        side = s * (uw * uh) ** 0.5
        m = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        before.append(iou(u, h))
        after.append(iou(m, h))
    print('pairs %d  dx %.4f  dy %.4f  scale %.4f  mean IoU before %.3f after %.3f  min IoU after %.3f' %
          (len(pairs), dx, dy, s, statistics.mean(before), statistics.mean(after), min(after)))


if __name__ == '__main__':
    main()
