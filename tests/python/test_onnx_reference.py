"""Second, independent reference for the ONNX runtime: a slow float64 ONNX interpreter written here in Python
(own protobuf reader, numpy ops), run on the same input tensors as our C runtime and OpenCV 4.6 DNN.

Input tensors: `oracle_cv tensors DIR N` (tests/oracle_cv) writes the tensors our preprocessing builds from N real
images of ../shared/data/faces; `oracle_cv ours` runs our runtime and `oracle_cv run` OpenCV DNN on a tensor file.

Assertion per output value: |ours - ref64| <= 1e-4 * max(1, |ref64|) (1e-3 for BlazeFace, whose box regression
outputs are ill-conditioned: OpenCV DNN itself is up to 2.7e-4 off the float64 result on the shared face images).
The test also reports how far OpenCV is from the float64 result (which side is right when ours and OpenCV differ).
Needs /usr/bin/python3 with numpy; skips without the built oracle_cv, the models or the shared data.
"""

import os
import struct
import subprocess
import tempfile

import numpy as np
import pytest

from conftest import build_dir

MODELS = {
    "fr_detect": ((1, 3, 240, 320), ["scores", "boxes"]),
    "fr_landmark": ((1, 1, 64, 64), ["output"]),
    "fr_feature": ((1, 3, 112, 112), ["output"]),
    "fr_liveness": ((1, 3, 128, 128), ["output"]),
    "fr_eye": ((1, 1, 24, 24), ["output"]),
    "face_detection_front_128x128_barracuda": ((1, 128, 128, 3), ["Identity:0", "Identity_1:0", "Identity_2:0",
                                                                   "Identity_3:0"]),
}


# ---- protobuf wire format -----------------------------------------------------------------------------------------

def _varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def _fields(b):
    i, n = 0, len(b)
    while i < n:
        k, i = _varint(b, i)
        f, t = k >> 3, k & 7
        if t == 0:
            v, i = _varint(b, i)
        elif t == 1:
            v, i = b[i:i + 8], i + 8
        elif t == 5:
            v, i = b[i:i + 4], i + 4
        elif t == 2:
            ln, i = _varint(b, i)
            v, i = b[i:i + ln], i + ln
        else:
            raise ValueError("wire type %d" % t)
        yield f, t, v


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _ints(t, v):
    if t == 0:
        return [_signed(v)]
    out, j = [], 0
    while j < len(v):
        x, j = _varint(v, j)
        out.append(_signed(x))
    return out


def _tensor(b):
    dims, dt, raw, fd, i64, name = [], 1, None, [], [], None
    for f, t, v in _fields(b):
        if f == 1:
            dims += _ints(t, v)
        elif f == 2:
            dt = v
        elif f == 4:
            fd += [struct.unpack("<f", v)[0]] if t == 5 else list(struct.unpack("<%df" % (len(v) // 4), v))
        elif f == 7:
            i64 += _ints(t, v)
        elif f == 8:
            name = v.decode()
        elif f == 9:
            raw = v
    if dt == 1:
        a = np.frombuffer(raw, "<f4") if raw is not None else np.array(fd, np.float32)
        a = a.astype(np.float64)
    elif dt == 7:
        a = np.frombuffer(raw, "<i8") if raw is not None else np.array(i64, np.int64)
        a = a.astype(np.int64)
    else:
        raise ValueError("dtype %d" % dt)
    return name, a.reshape(dims)


def _attr(b):
    name, val = None, None
    for f, t, v in _fields(b):
        if f == 1:
            name = v.decode()
        elif f == 2:
            val = struct.unpack("<f", v)[0]
        elif f == 3:
            val = _signed(v)
        elif f == 4:
            val = v.decode()
        elif f == 5:
            val = _tensor(v)[1]
        elif f == 7:
            val = (val or []) + ([struct.unpack("<f", v)[0]] if t == 5 else
                                 list(struct.unpack("<%df" % (len(v) // 4), v)))
        elif f == 8:
            val = (val or []) + _ints(t, v)
    return name, val


def load_onnx(path):
    data = open(path, "rb").read()
    nodes, inits, opset, inputs = [], {}, None, []
    for f, t, v in _fields(data):
        if f == 8:
            dom, ver = b"", None
            for f2, t2, v2 in _fields(v):
                if f2 == 1:
                    dom = v2
                elif f2 == 2:
                    ver = v2
            if dom in (b"", b"ai.onnx"):
                opset = ver
        elif f == 7:
            for f2, t2, v2 in _fields(v):
                if f2 == 1:
                    n = {"in": [], "out": [], "attr": {}}
                    for f3, t3, v3 in _fields(v2):
                        if f3 == 1:
                            n["in"].append(v3.decode())
                        elif f3 == 2:
                            n["out"].append(v3.decode())
                        elif f3 == 4:
                            n["op"] = v3.decode()
                        elif f3 == 5:
                            k, a = _attr(v3)
                            n["attr"][k] = a
                    nodes.append(n)
                elif f2 == 5:
                    k, a = _tensor(v2)
                    inits[k] = a
                elif f2 == 11:
                    for f3, t3, v3 in _fields(v2):
                        if f3 == 1:
                            inputs.append(v3.decode())
    graph_input = [i for i in inputs if i not in inits][0]
    return nodes, inits, opset, graph_input


# ---- float64 interpreter ------------------------------------------------------------------------------------------

def _conv(x, w, b, a):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    g = a.get("group", 1)
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    oh = (h + pt + pb - (dh * (kh - 1) + 1)) // sh + 1
    ow = (wd + pl + pr - (dw * (kw - 1) + 1)) // sw + 1
    out = np.zeros((n, m, oh, ow))
    mg = m // g
    for gi in range(g):
        xs = xp[0, gi * cg:(gi + 1) * cg]
        cols = np.empty((cg, kh, kw, oh, ow))
        for ky in range(kh):
            for kx in range(kw):
                cols[:, ky, kx] = xs[:, ky * dh: ky * dh + sh * (oh - 1) + 1: sh, kx * dw: kx * dw + sw * (ow - 1) + 1: sw]
        wg = w[gi * mg:(gi + 1) * mg].reshape(mg, -1)
        out[0, gi * mg:(gi + 1) * mg] = (wg @ cols.reshape(cg * kh * kw, -1)).reshape(mg, oh, ow)
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def _maxpool(x, a):
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    n, c, h, w = x.shape
    xp = np.full((n, c, h + pt + pb, w + pl + pr), -np.inf)
    xp[:, :, pt:pt + h, pl:pl + w] = x
    oh = (h + pt + pb - kh) // sh + 1
    ow = (w + pl + pr - kw) // sw + 1
    out = np.full((n, c, oh, ow), -np.inf)
    for ky in range(kh):
        for kx in range(kw):
            out = np.maximum(out, xp[:, :, ky: ky + sh * (oh - 1) + 1: sh, kx: kx + sw * (ow - 1) + 1: sw])
    return out


def run_reference(model, x):
    nodes, inits, opset, graph_input = model
    env = dict(inits)
    env[""] = None
    env[graph_input] = x.astype(np.float64)
    for n in nodes:
        op, a = n["op"], n["attr"]
        i = [env.get(k) for k in n["in"]]
        if op == "Conv":
            y = _conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "PRelu":
            y = np.where(i[0] >= 0, i[0], i[0] * i[1])
        elif op == "Sigmoid":
            y = 1 / (1 + np.exp(-i[0]))
        elif op == "Exp":
            y = np.exp(i[0])
        elif op in ("Add", "Sub", "Mul", "Div"):
            y = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](i[0], i[1])
        elif op == "Concat":
            y = np.concatenate(i, axis=a["axis"])
        elif op == "Transpose":
            y = np.transpose(i[0], a["perm"])
        elif op == "Reshape":
            shape = [int(s) for s in i[1]]
            shape = [i[0].shape[k] if s == 0 else s for k, s in enumerate(shape)]
            y = i[0].reshape(shape)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif op == "Unsqueeze":
            y = i[0]
            for ax in sorted(a["axes"]):
                y = np.expand_dims(y, ax)
        elif op == "Shape":
            y = np.array(i[0].shape, np.int64)
        elif op == "Gather":
            y = np.take(i[0], i[1], axis=a.get("axis", 0))
        elif op == "Constant":
            y = a["value"]
        elif op == "ConstantOfShape":
            v = a.get("value")
            y = np.full([int(s) for s in i[0]], 0.0 if v is None else v.reshape(-1)[0])
        elif op == "Slice":
            sl = [slice(None)] * i[0].ndim
            for ax, s, e in zip(a.get("axes", range(len(a["starts"]))), a["starts"], a["ends"]):
                sl[ax] = slice(s, min(e, i[0].shape[ax]))
            y = i[0][tuple(sl)]
        elif op == "Softmax":
            ax = a.get("axis", 1)
            shp = i[0].shape
            z = i[0].reshape(int(np.prod(shp[:ax])), -1)
            z = np.exp(z - z.max(axis=1, keepdims=True))
            y = (z / z.sum(axis=1, keepdims=True)).reshape(shp)
        elif op == "Gemm":
            A = i[0].T if a.get("transA", 0) else i[0]
            B = i[1].T if a.get("transB", 0) else i[1]
            y = a.get("alpha", 1.0) * (A @ B) + (a.get("beta", 1.0) * i[2] if len(i) > 2 else 0)
        elif op == "MatMul":
            y = i[0] @ i[1]
        elif op == "BatchNormalization":
            shp = [1, -1] + [1] * (i[0].ndim - 2)
            eps = a.get("epsilon", 1e-5)
            y = (i[0] - i[3].reshape(shp)) / np.sqrt(i[4].reshape(shp) + eps) * i[1].reshape(shp) + i[2].reshape(shp)
        elif op == "GlobalAveragePool":
            y = i[0].mean(axis=(2, 3), keepdims=True)
        elif op == "MaxPool":
            y = _maxpool(i[0], a)
        else:
            raise NotImplementedError(op)
        env[n["out"][0]] = y
    return env


def _models_dir():
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(home, "facematch", "models")


@pytest.fixture(scope="module")
def oracle():
    exe = os.path.join(build_dir(), "tests", "oracle_cv", "oracle_cv")
    if not os.access(exe, os.X_OK):
        pytest.skip(f"{exe} not built (needs libopencv-dev)")
    return exe


@pytest.fixture(scope="module")
def tensors(oracle, shared_data):
    d = tempfile.mkdtemp(prefix="fm_onnx_")
    r = subprocess.run([oracle, "tensors", d, "4"], capture_output=True, text=True,
                       env=dict(os.environ, FM_DATA_DIR=shared_data))
    if r.returncode == 77:
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0, r.stderr
    return d


@pytest.mark.parametrize("name", list(MODELS))
def test_matches_float64_reference(name, oracle, tensors):
    path = os.path.join(_models_dir(), name + ".onnx")
    if not os.path.exists(path):
        pytest.skip(f"{path} missing (run models/fetch)")
    shape, outs = MODELS[name]
    model = load_onnx(path)
    files = sorted(f for f in os.listdir(tensors) if f.startswith(name + "."))
    assert files, "no tensors written for " + name
    worst_ours = worst_cv = 0.0
    for f in files[:4]:
        src = os.path.join(tensors, f)
        x = np.fromfile(src, np.float32).reshape(shape)
        env = run_reference(model, x)
        ref = np.concatenate([np.asarray(env[o], np.float64).ravel() for o in outs])
        ours_f = src + ".ours"
        subprocess.run([oracle, "ours", path, src, ours_f], check=True)
        ours = np.fromfile(ours_f, np.float32).astype(np.float64)
        cv_f = src + ".cv"
        subprocess.run([oracle, "run", path, src, cv_f] + [str(s) for s in shape], check=True)
        cvo = np.fromfile(cv_f, np.float32).astype(np.float64)
        assert ours.size == ref.size
        scale = np.maximum(1.0, np.abs(ref))
        worst_ours = max(worst_ours, float((np.abs(ours - ref) / scale).max()))
        assert cvo.size == ref.size
        worst_cv = max(worst_cv, float((np.abs(cvo - ref) / scale).max()))
    print(f"{name}: max rel diff to float64 reference: ours {worst_ours:.3g}, OpenCV {worst_cv:.3g}")
    tol = 1e-3 if name.startswith("face_detection") else 1e-4
    assert worst_ours <= tol, f"{name}: ours differs from the float64 reference by {worst_ours:.3g} (relative)"
