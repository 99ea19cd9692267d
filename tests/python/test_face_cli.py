"""The face CLI (embed, compare, eval, embed-bench) against dlib 19.24 (tests/oracle/face_oracle) on shared images.

Needs <build>/bin/facematch, <build>/tests/oracle/face_oracle (libdlib-dev), the dlib models and ../shared/data;
each missing piece skips with a message. Independent reference: dlib's own program, never numbers we produced.
"""

import csv
import json
import math
import os
import subprocess

import pytest

from conftest import build_dir, data_dir, models_dir


def _paths():
    b = build_dir()
    cli = os.path.join(b, "bin", "facematch")
    oracle = os.path.join(b, "tests", "oracle", "face_oracle")
    models = models_dir()
    return cli, oracle, models


def _need():
    cli, oracle, models = _paths()
    if not os.access(cli, os.X_OK):
        pytest.skip("facematch CLI not built at %s" % cli)
    if not os.access(oracle, os.X_OK):
        pytest.skip("face_oracle not built (needs libdlib-dev)")
    if not os.path.exists(os.path.join(models, "dlib_face_recognition_resnet_model_v1.dat")):
        pytest.skip("dlib models not found in %s" % models)
    if not os.path.exists(os.path.join(data_dir(), "faces", "identities.csv")):
        pytest.skip("../shared/data not found (set FM_DATA_DIR)")
    return cli, oracle, models


def _oracle(oracle, models, imgs, mmod=False):
    cmd = [oracle, "--models", models] + (["--mmod"] if mmod else []) + imgs
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    recs, cur = {}, None
    for line in out.splitlines():
        f = line.split()
        if f[0] == "I":
            cur = recs.setdefault(f[1], {})
        elif f[0] == "M":
            n = int(f[1])
            cur["mmod"] = [list(map(float, f[2 + 5 * k:7 + 5 * k])) for k in range(n)]
        elif f[0] == "D":
            cur["desc"] = list(map(float, f[1:]))
    return recs


SMALL = ["faces/face_recognition/examples/obama_small.jpg",
         "faces/dlib-johns/examples/johns/John_Salley/000197_02159322.jpg",
         "faces/faceapi-bbt/examples/images/sheldon/sheldon1.png"]


def test_embed_json_matches_dlib_mmod_pipeline():
    """embed --detector mmod: boxes and scores are dlib's MMOD output; descriptors are dlib's for that box."""
    cli, oracle, models = _need()
    imgs = [os.path.join(data_dir(), p) for p in SMALL if os.path.exists(os.path.join(data_dir(), p))]
    ref = _oracle(oracle, models, imgs, mmod=True)
    for img in imgs:
        r = subprocess.run([cli, "embed", img, "--json", "--detector", "mmod", "--models", models],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        faces = json.loads(r.stdout)["faces"]
        dl = ref[img]["mmod"]
        assert len(faces) == len(dl)
        for f, d in zip(faces, dl):
            assert f["box"] == d[:4]
            assert abs(f["score"] - d[4]) < 1e-3
            assert len(f["landmarks"]) == 5 and all(len(p) == 2 for p in f["landmarks"])
            assert len(f["descriptor"]) == 128
            norm = math.sqrt(sum(x * x for x in f["descriptor"]))
            assert 0.2 < norm < 2.0


def test_compare_json_and_exit_codes(tmp_path):
    cli, oracle, models = _need()
    base = os.path.join(data_dir(), "faces", "dlib-johns", "examples", "johns", "John_Salley")
    if not os.path.isdir(base):
        pytest.skip("dlib-johns images not found")
    imgs = sorted(os.path.join(base, x) for x in os.listdir(base))[:2]
    r = subprocess.run([cli, "compare", imgs[0], imgs[1], "--json", "--models", models], capture_output=True,
                       text=True)
    assert r.returncode in (0, 1), r.stderr
    j = json.loads(r.stdout)
    assert set(j) >= {"faces_a", "faces_b", "distance", "threshold", "match"}
    assert j["faces_a"] >= 1 and j["faces_b"] >= 1
    assert j["threshold"] == 0.6
    assert j["match"] == (j["distance"] < j["threshold"]) and (r.returncode == 0) == j["match"]
    # the same image against itself: distance 0, match
    r = subprocess.run([cli, "compare", imgs[0], imgs[0], "--json", "--models", models], capture_output=True,
                       text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["distance"] < 1e-6
    # an image without a face: clear message, exit 3
    grey = tmp_path / "grey.pgm"
    grey.write_bytes(b"P5\n64 64\n255\n" + bytes([128]) * 64 * 64)
    r = subprocess.run([cli, "compare", imgs[0], str(grey), "--json", "--models", models], capture_output=True,
                       text=True)
    assert r.returncode == 3
    assert "no face" in r.stderr


def test_eval_outputs(tmp_path):
    cli, oracle, models = _need()
    base = os.path.join(data_dir(), "faces", "faceapi-bbt", "examples", "images")
    if not os.path.isdir(base):
        pytest.skip("faceapi-bbt images not found")
    rows = []
    for who in sorted(os.listdir(base))[:3]:
        for f in sorted(os.listdir(os.path.join(base, who)))[:3]:
            rows.append(("faces/faceapi-bbt/examples/images/%s/%s" % (who, f), who))
    ids = tmp_path / "ids.csv"
    ids.write_text("path,identity,set\n" + "".join("%s,%s,x\n" % r for r in rows))
    out, plot = tmp_path / "out.csv", tmp_path / "roc.png"
    r = subprocess.run([cli, "eval", "--identities", str(ids), "--root", data_dir(), "--out", str(out),
                        "--threads", "2", "--plot", str(plot), "--models", models], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    n = len(rows)
    assert s["pairs"] == n * (n - 1) // 2 and s["images"] == n
    assert "eval:" in r.stderr  # progress line
    with open(out) as f:
        got = list(csv.reader(f))
    assert got[0] == ["path_a", "path_b", "same", "distance"] and len(got) == s["pairs"] + 1
    # the default detector (photo: HOG, MMOD fallback) gives dlib's HOG boxes, so the distances are those of dlib's
    # own pipeline (HOG, largest face, 5 points, chip, ResNet) run by the oracle, up to float rounding
    ref = _oracle(oracle, models, [os.path.join(data_dir(), p) for p, _ in rows])
    desc = {p: ref[os.path.join(data_dir(), p)].get("desc") for p, _ in rows}
    diffs = []
    for a, b, same, d in got[1:]:
        assert same == str(int([i for p, i in rows if p == a][0] == [i for p, i in rows if p == b][0]))
        if d and desc[a] and desc[b]:
            diffs.append(abs(float(d) - math.dist(desc[a], desc[b])))
    assert diffs and max(diffs) < 1e-3
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_embed_bench_json():
    cli, oracle, models = _need()
    chip = os.path.join(data_dir(), "faces", "dlib-johns", "examples", "johns", "John_Salley",
                        "000197_02159322.jpg")
    if not os.path.exists(chip):
        pytest.skip("chip image not found")
    r = subprocess.run([cli, "embed-bench", "--chip", chip, "--iterations", "3", "--json", "--models", models],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["iterations"] == 3 and j["threads"] == 1 and j["median_ms"] > 0
