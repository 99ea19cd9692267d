"""The Python binding of the face pipeline (python/facematch/face.py) against the C CLI on the same files.

Independent references: `facematch compare --json` and `facematch embed --json` (C programs over the same library,
with their own detector choice, largest-face rule and buffers) on photos listed in ../shared/data/faces/
identities.csv; the binding must give the same boxes, landmarks, descriptors and distances. Needs the CLI of
FM_BUILD_DIR, the dlib/faceplugin models and the shared data; each missing piece skips with a message.
"""

import csv
import json
import os
import subprocess
import threading

import pytest

from conftest import build_dir, data_dir, models_dir

ENGINE_MODELS = ["dlib_resnet", "dlib_sp5", "dlib_sp68", "dlib_mmod", "fp_detect", "dlib_hog"]


@pytest.fixture(scope="module")
def face(fm):
    from facematch import face as _face
    return _face


@pytest.fixture(scope="module")
def mdir():
    d = models_dir()
    for f in ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat",
              "mmod_human_face_detector.dat", "fr_detect.onnx"):
        if not os.path.exists(os.path.join(d, f)):
            pytest.skip(f"model {f} not found in {d} (models/fetch, or set FACEMATCH_MODELS)")
    return d


@pytest.fixture(scope="module")
def engine(face, mdir):
    with face.Engine(models_dir=mdir, models=ENGINE_MODELS, optional_missing=True) as e:
        yield e


@pytest.fixture(scope="module")
def cli(mdir):
    exe = os.path.join(build_dir(), "bin", "facematch")
    if not os.access(exe, os.X_OK):
        pytest.skip(f"facematch CLI not built at {exe}")
    return lambda *args: subprocess.run([exe] + list(args) + ["--models", mdir], capture_output=True, text=True,
                                        timeout=600)


@pytest.fixture(scope="module")
def identities():
    d = data_dir()
    p = os.path.join(d, "faces", "identities.csv")
    if not os.path.exists(p):
        pytest.skip(f"shared test data not found at {d} (set FM_DATA_DIR, or put shared/ beside the checkout)")
    by_id = {}
    with open(p, newline="") as f:
        for row in csv.DictReader(f):
            by_id.setdefault(row["identity"], []).append(os.path.join(d, row["path"]))
    return by_id


def same_pairs(ids, n):
    """The first two photos of the first n identities (sorted) that have two."""
    out = []
    for k in sorted(ids):
        if len(ids[k]) >= 2:
            out.append((k, ids[k][0], ids[k][1]))
        if len(out) == n:
            break
    return out


def photo_detector(engine):
    """The CLI's default for still photos (face_cli_detector): HOG then MMOD, else fast then MMOD."""
    if engine.has_model("dlib_hog"):
        return "photo" if engine.has_model("dlib_mmod") else "hog"
    return "auto"


def binding_compare(fm, engine, a, b):
    det = photo_detector(engine)
    descs = []
    for path in (a, b):
        img, _ = fm.load(path, fm.PixFmt.RGB24)
        with img:
            box = engine.largest_face(img, detector=det)
            assert box is not None, path
            descs.append(engine.embed_face(img, box))
    from facematch import face
    r = face.compare(descs[0], descs[1])
    for d in descs:
        fm.wipe(d)
        assert not d.any()
    return r


def cli_compare(cli, a, b):
    r = cli("compare", a, b, "--json")
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def test_compare_same_person_equals_cli(fm, engine, cli, identities):
    pairs = same_pairs(identities, 3)
    assert len(pairs) == 3
    for ident, a, b in pairs:
        want = cli_compare(cli, a, b)
        got = binding_compare(fm, engine, a, b)
        print(ident, got.distance, want["distance"])
        assert abs(got.distance - want["distance"]) <= 1e-6, (ident, got, want)
        assert abs(got.similarity - want["similarity"]) <= 1e-6
        assert got.threshold == pytest.approx(want["threshold"], abs=1e-9)
        assert got.match == want["match"]
        assert got.match, f"{ident}: two photos of the same person should match at dlib's 0.6 ({got.distance})"


def test_compare_different_people_no_match(fm, engine, cli, identities):
    names = sorted(k for k in identities)
    # first photo of consecutive identities in sorted order, across different subsets of the data
    pairs = [(names[i], names[i + 1]) for i in (0, len(names) // 2, len(names) - 2)]
    for p, q in pairs:
        a, b = identities[p][0], identities[q][0]
        want = cli_compare(cli, a, b)
        got = binding_compare(fm, engine, a, b)
        print(p, q, got.distance, want["distance"])
        assert abs(got.distance - want["distance"]) <= 1e-6, (p, q, got, want)
        assert got.match is False and want["match"] is False, (p, q, got)
        assert got.distance >= got.threshold


def test_detect_landmarks_embed_equal_cli_embed(fm, face, engine, cli, identities):
    """`facematch embed --json`: every face's box, score, 5 landmarks and descriptor, best score first."""
    path = same_pairs(identities, 1)[0][1]
    r = cli("embed", path, "--json")
    assert r.returncode == 0, r.stderr
    want = json.loads(r.stdout)["faces"]
    img, _ = fm.load(path, fm.PixFmt.RGB24)
    faces = engine.detect(img, detector=photo_detector(engine))
    assert len(faces) == len(want) >= 1
    for f, w in zip(faces, want):
        assert [f.left, f.top, f.right, f.bottom] == pytest.approx(w["box"], abs=1e-3)
        assert f.score == pytest.approx(w["score"], rel=1e-6, abs=1e-6)
        pts = engine.landmarks(img, f, 5)
        assert [c for p in pts for c in (p.x, p.y)] == pytest.approx([c for q in w["landmarks"] for c in q], abs=1e-3)
        d = engine.embed_face(img, f)
        assert d.shape == (128,)
        assert max(abs(float(x) - y) for x, y in zip(d, w["descriptor"])) <= 1e-6
        # the same descriptor through the three documented steps: 5 landmarks -> 150 px chip (padding 0.25) -> net
        with face.face_chip(img, pts, 150, 0.25) as chip:
            assert (chip.width, chip.height, chip.pixfmt) == (150, 150, fm.PixFmt.RGB24)
            d2 = engine.embed_chip(chip)
        assert max(abs(float(x) - float(y)) for x, y in zip(d, d2)) <= 1e-5
    img.close()


def test_detect_numpy_and_landmarks68(fm, face, engine, identities, np):
    path = same_pairs(identities, 1)[0][1]
    img, _ = fm.load(path, fm.PixFmt.RGB24)
    arr = img.to_numpy(fm.PixFmt.RGB24)
    a = engine.detect(img, detector="fast")
    b = engine.detect(arr, detector=face.Detector.FAST)  # the numpy array is wrapped, not copied
    assert a == b and len(a) >= 1
    assert all(0 < f.score <= 1 for f in a)  # UltraFace: a probability
    assert engine.detect(img, detector="fast", max_faces=0) == []
    if not engine.has_model("dlib_sp68"):
        pytest.skip("shape_predictor_68 not in the models dir")
    p68 = engine.landmarks(img, a[0], 68)
    assert len(p68) == 68
    five = face.landmarks68_to_five(p68)
    # fm_landmarks68_to_five's documented rule: eye centres = mean of 36-41 / 42-47, nose 30, mouth 48 and 54
    le = (sum(p.x for p in p68[36:42]) / 6, sum(p.y for p in p68[36:42]) / 6)
    assert (five[0].x, five[0].y) == pytest.approx(le, abs=1e-3)
    assert (five[2].x, five[2].y) == pytest.approx((p68[30].x, p68[30].y), abs=1e-4)
    assert (five[4].x, five[4].y) == pytest.approx((p68[54].x, p68[54].y), abs=1e-4)
    with face.align112(img, five) as chip:
        assert (chip.width, chip.height) == (112, 112)
    img.close()


def test_detect_without_face_returns_empty(fm, engine, np):
    grey = np.full((240, 320, 3), 128, np.uint8)
    rnd = np.random.default_rng(7).integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    for det in ("fast", "mmod", "auto"):
        assert engine.detect(grey, detector=det) == [], det
        assert engine.detect(rnd, detector=det) == [], det
    assert engine.largest_face(grey) is None


def test_bad_arguments_raise_the_right_class(fm, face, engine, mdir, np, tmp_path):
    d = [0.0] * 128
    with pytest.raises(fm.InvalidArgumentError):
        face.compare(d, [0.0] * 127)                      # lengths differ
    with pytest.raises(fm.InvalidArgumentError) as e:
        face.compare(d[:100], d[:100], embedder="dlib")   # the C function checks the dim
    assert e.value.status == fm.Status.FM_ERR_INVALID_ARGUMENT and e.value.message
    with pytest.raises(fm.InvalidArgumentError):
        face.compare([float("nan")] + d[1:], d)           # non-finite values
    with pytest.raises(fm.InvalidArgumentError):
        face.compare(d, d, threshold=-1)
    with pytest.raises(fm.InvalidArgumentError):
        engine.detect(np.zeros((8, 8, 3), np.uint8), detector="nope")
    with pytest.raises(fm.InvalidArgumentError):
        engine.landmarks(np.zeros((8, 8, 3), np.uint8), (0, 0, 7, 7), npoints=7)
    with pytest.raises(fm.IOError_) as e:                 # the model file is absent
        face.Engine(models_dir=str(tmp_path), models=["dlib_sp5"])
    assert "shape_predictor_5_face_landmarks.dat" in e.value.message
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"not a shape predictor" * 10)
    with pytest.raises(fm.ModelHashError):
        face.Engine(models_dir=mdir, models=["dlib_sp5"], paths={"dlib_sp5": str(junk)})
    with pytest.raises(fm.ModelError):                    # FM_ERR_MODEL_INVALID, from memory
        face.Engine(models_dir=mdir, models=["dlib_sp5"], buffers={"dlib_sp5": junk.read_bytes()},
                    verify_sha256=False)
    with face.Engine(models_dir=mdir, models=["dlib_sp5"]) as small:
        assert small.loaded_models() == ["dlib_sp5"]
        with pytest.raises(fm.ModelError):                # no detector model loaded
            small.detect(np.zeros((64, 64, 3), np.uint8), detector="mmod")
    with pytest.raises(fm.StateError):
        small.detect(np.zeros((64, 64, 3), np.uint8))     # closed
    with pytest.raises(TypeError):
        engine.detect(b"not an image")


def test_engine_from_memory_and_shared_by_threads(fm, face, engine, mdir, identities):
    """An engine built from model bytes in memory gives the same descriptor; one engine used by four threads at
    once (each call with its own private Context) gives the same descriptor in every thread."""
    path = same_pairs(identities, 1)[0][1]
    img, _ = fm.load(path, fm.PixFmt.RGB24)
    box = engine.largest_face(img, detector="fast")
    ref = engine.embed_face(img, box)
    files = {m.name: os.path.join(mdir, m.file) for m in fm.models() if m.name in ("dlib_resnet", "dlib_sp5")}
    bufs = {k: open(v, "rb").read() for k, v in files.items()}
    with face.Engine(models=list(bufs), buffers=bufs) as mem:
        assert (mem.embed_face(img, box) == ref).all()
    out, errs = [None] * 4, []

    def work(i):
        try:
            with fm.Context() as c:
                out[i] = engine.embed_face(img, box, ctx=c)
        except Exception as e:  # pragma: no cover - reported below
            errs.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errs
    for o in out:
        assert abs(o - ref).max() <= 1e-6  # FM_PARAM_THREADS may change float rounding only
    img.close()


def test_constants_match_the_library(fm, face):
    assert len(fm.models()) == face.MODEL_COUNT  # fm_engine_config's per-model arrays are sized by it
    assert face.embedder_dim("dlib") == 128 and face.embedder_dim(face.Embedder.FR512) == 512
    assert face.default_threshold("dlib") == 0.6
    r = face.compare([0.0] * 128, [0.0] * 127 + [0.6])
    assert r.distance == pytest.approx(0.6, abs=1e-7) and r.similarity == pytest.approx(0.5, abs=1e-6)
    assert r.match is False  # match is distance < threshold


def test_compare_leaves_the_callers_arrays_alone(face, np):
    """compare() wipes only its own C copies: the caller's descriptors (any dtype) keep their values."""
    a = np.linspace(-0.2, 0.2, 128, dtype=np.float32)
    b = np.linspace(0.2, -0.2, 128)  # float64: converted (and that conversion wiped) inside
    a0, b0 = a.copy(), b.copy()
    r = face.compare(a, b)
    assert (a == a0).all() and (b == b0).all()
    want = float(np.sqrt(((a0.astype(np.float64) - b0.astype(np.float32)) ** 2).sum()))
    assert r.distance == pytest.approx(want, rel=1e-6)
