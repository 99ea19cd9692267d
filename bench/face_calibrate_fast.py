#!/usr/bin/python3
"""Fits the mapping from UltraFace (fr_detect.onnx) boxes to dlib detector boxes, so that fast-detector boxes feed
dlib's 5-point shape predictor the way it was trained (on dlib detector boxes).

usage: face_calibrate_fast.py ORACLE_DUMP ULTRAFACE_DUMP
  ORACLE_DUMP:    output of tests/oracle/face_oracle (lines "I path w h", "H n l t r b ...")
  ULTRAFACE_DUMP: lines "U path n x1 y1 x2 y2 score ..." (UltraFace boxes in image pixels, x2/y2 exclusive)
Uses the images where dlib's HOG detector finds exactly one face and an UltraFace box overlaps it (IoU > 0.3).
Model: dlib box centre = UltraFace centre + (dx * w, dy * h); dlib box side = s * sqrt(w * h) (dlib boxes are square).
Prints the medians of dx, dy, s and the mean IoU to the dlib boxes before and after the mapping.
"""
import sys
import statistics


def iou(a, b):
    l, t, r, bb = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    if l >= r or t >= bb:
        return 0.0
    inter = (r - l) * (bb - t)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def main():
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
