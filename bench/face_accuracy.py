#!/usr/bin/python3
"""Accuracy of dlib's reference pipeline (HOG detector, largest face, 5 points, chip, ResNet) next to ours, on every
pair of an identities list, with the same metric definitions as `facematch eval` (pairs whose image has no face count
as non-matches; FAR/TAR at threshold t count distances < t).

usage: face_accuracy.py IDENTITIES.csv ORACLE_DUMP [OURS_EVAL.csv ...]
  ORACLE_DUMP: output of tests/oracle/face_oracle on the images of IDENTITIES.csv (paths as given there, joined to
               the data root); its D lines are dlib's descriptors of the largest HOG face.
  OURS_EVAL.csv: output of `facematch eval --identities IDENTITIES.csv --out OURS_EVAL.csv`.
Prints one JSON line per pipeline.
"""
import json
import math
import sys


def metrics(pairs):
    """pairs: list of (same, distance or None)."""
    gd = sorted((d if d is not None else math.inf) for s, d in pairs if s)
    im = sorted((d if d is not None else math.inf) for s, d in pairs if not s)
    ng, ni = len(gd), len(im)
    allv = sorted(gd + im)
    out = {'pairs': len(pairs), 'genuine': ng, 'impostor': ni,
           'pairs_without_face': sum(1 for s, d in pairs if d is None)}
    eer, eer_gap, eer_t = 1.0, 2.0, 0.0
    best_acc, best_t = 0.0, 0.0
    tar2 = t2 = tar3 = t3 = 0.0
    cg = ci = 0
    for k in range(len(allv) + 1):
        if k == 0:
            t = allv[0] - 1e-9
        elif k == len(allv) or not math.isfinite(allv[k]):
            t = allv[k - 1] + 1e-9 if math.isfinite(allv[k - 1]) else math.inf
        else:
            if allv[k] == allv[k - 1]:
                continue
            t = (allv[k - 1] + allv[k]) / 2
        while cg < ng and gd[cg] < t:
            cg += 1
        while ci < ni and im[ci] < t:
            ci += 1
        tar, far = cg / ng, ci / ni
        if abs(far - (1 - tar)) < eer_gap:
            eer_gap, eer, eer_t = abs(far - (1 - tar)), (far + 1 - tar) / 2, t
        acc = (cg + ni - ci) / (ng + ni)
        if acc > best_acc:
            best_acc, best_t = acc, t
        if far <= 1e-2 and tar >= tar2 and math.isfinite(t):
            tar2, t2 = tar, t
        if far <= 1e-3 and tar >= tar3 and math.isfinite(t):
            tar3, t3 = tar, t
        if not math.isfinite(t):
            break
    out.update({'eer': round(eer, 4), 'eer_threshold': round(eer_t, 4), 'tar_at_far_1e-2': round(tar2, 4),
                'threshold_at_far_1e-2': round(t2, 4), 'tar_at_far_1e-3': round(tar3, 4),
                'threshold_at_far_1e-3': round(t3, 4), 'best_accuracy': round(best_acc, 4),
                'best_accuracy_threshold': round(best_t, 4)})
    return out


def main():
    ids = []
    for i, line in enumerate(open(sys.argv[1])):
        f = line.strip().split(',')
        if i == 0 or len(f) < 2:
            continue
        ids.append((f[0], f[1]))
    desc = {}
    cur = None
    for line in open(sys.argv[2]):
        f = line.split()
        if not f:
            continue
        if f[0] == 'I':
            cur = f[1]
        elif f[0] == 'D' and cur:
            desc[cur] = [float(x) for x in f[1:]]
    def find(p):
        for k, v in desc.items():
            if k.endswith('/' + p):
                return v
        return None
    vec = [find(p) for p, _ in ids]
    pairs = []
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            same = ids[a][1] == ids[b][1]
            if vec[a] is None or vec[b] is None:
                pairs.append((same, None))
            else:
                pairs.append((same, math.sqrt(sum((x - y) ** 2 for x, y in zip(vec[a], vec[b])))))
    m = metrics(pairs)
    m['pipeline'] = 'dlib 19.24: HOG + 5-point + ResNet (reference)'
    m['failures_to_detect'] = sum(1 for v in vec if v is None)
    print(json.dumps(m))
    for path in sys.argv[3:]:
        pairs = []
        for i, line in enumerate(open(path)):
            f = line.strip().split(',')
            if i == 0 or len(f) < 4:
                continue
            pairs.append((f[2] == '1', float(f[3]) if f[3] else None))
        m = metrics(pairs)
        m['pipeline'] = 'facematch: ' + path
        print(json.dumps(m))


if __name__ == '__main__':
    main()
