"""Core API through the shared library: version, status codes, contexts and limits, SHA-256, the model table.

References used: the public header (parsed here), models/manifest (parsed here), CMakeLists.txt's project
version, and Python's hashlib.
"""

import hashlib
import os
import re
import subprocess

import pytest

from conftest import REPO, read_manifest

HEADER = os.path.join(REPO, "facematch", "include", "facematch.h")


def header_text():
    with open(HEADER, encoding="utf-8") as f:
        return f.read()


def header_enum(name):
    """{member: value} of `typedef enum <name> { ... }` in facematch.h."""
    m = re.search(r"typedef\s+enum\s+" + name + r"\s*\{(.*?)\}", header_text(), re.S)
    assert m, f"enum {name} not found in facematch.h"
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    out = {}
    for k, v in re.findall(r"(\w+)\s*=\s*(-?\d+)", body):
        out[k] = int(v)
    return out


def header_prototypes(upto_marker="[issue 3]"):
    """{function: parameter count} of the FM_API prototypes before the given section marker."""
    text = header_text()
    cut = text.find(upto_marker)
    if cut > 0:
        text = text[:cut]
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = {}
    for name, params in re.findall(r"FM_API\s+[^;(]*?\b(fm_\w+)\s*\(([^)]*)\)\s*;", text, re.S):
        params = params.strip()
        out[name] = 0 if params in ("", "void") else params.count(",") + 1
    return out


# ---- library and version -------------------------------------------------------------------------------------

def test_library_loads_from_expected_place(fm):
    want = os.environ.get("FACEMATCH_LIB")
    assert fm.library_path() == want
    assert os.path.exists(want)


def test_version_matches_header_and_cmake(fm):
    m = re.search(r'#define\s+FM_VERSION_STRING\s+"([^"]+)"', header_text())
    assert m and fm.version() == m.group(1)
    with open(os.path.join(REPO, "CMakeLists.txt"), encoding="utf-8") as f:
        pv = re.search(r"project\(\s*facematch\s+VERSION\s+([\d.]+)", f.read())
    assert pv and pv.group(1) == fm.version()


def test_binding_declares_every_public_function_of_issue_2(fm):
    from facematch import _native
    protos = header_prototypes()
    assert len(protos) > 30, protos  # the parser found the API
    missing = sorted(set(protos) - set(_native.SIGNATURES))
    assert not missing, f"functions in facematch.h without a ctypes signature: {missing}"
    for name, n in protos.items():
        assert len(_native.SIGNATURES[name][1]) == n, f"{name}: header has {n} parameters"


def test_library_exports_every_declared_function(fm):
    from facematch import _native
    missing = _native.lib().declare_all()
    assert not missing, f"libfacematch does not export: {missing}"


# ---- status codes --------------------------------------------------------------------------------------------

def test_status_names_match_header(fm):
    hdr = header_enum("fm_status")
    assert hdr["FM_OK"] == 0 and len(hdr) >= 20
    for name, code in hdr.items():
        assert fm.status_name(code) == name
        assert fm.Status[name] == code
        text = fm.status_str(code)
        assert text and text != "unknown status", name
    # the library names no code the header lacks
    assert {s.name for s in fm.Status} == set(hdr)
    assert fm.status_name(9999) == "FM_ERR_UNKNOWN"
    assert fm.status_name(-1) == "FM_ERR_UNKNOWN"


def test_error_classes(fm):
    assert fm.error_class(fm.Status.FM_ERR_CORRUPT) is fm.CorruptError
    assert fm.error_class(fm.Status.FM_ERR_TRUNCATED) is fm.TruncatedError
    assert fm.error_class(fm.Status.FM_ERR_LIMIT) is fm.LimitError
    assert fm.error_class(fm.Status.FM_ERR_PIN_LOCKED) is fm.CardError
    for s in fm.Status:
        if s != 0:
            assert issubclass(fm.error_class(s), fm.FacematchError)
    e = fm.CorruptError(fm.Status.FM_ERR_CORRUPT, "bad header")
    assert e.name == "FM_ERR_CORRUPT" and e.message == "bad header" and "FM_ERR_CORRUPT" in str(e)


# ---- context -------------------------------------------------------------------------------------------------

def test_context_defaults_are_the_documented_ones(fm, ctx):
    # documented in facematch.h next to enum fm_param
    assert ctx.get(fm.Param.MAX_INPUT_BYTES) == 64 * 1024 * 1024
    assert ctx.get(fm.Param.MAX_PIXELS) == 40_000_000
    assert ctx.get(fm.Param.MAX_DIMENSION) == 16384
    assert ctx.get(fm.Param.THREADS) == 1
    assert ctx.get(fm.Param.MAX_MODEL_BYTES) == 256 * 1024 * 1024
    assert ctx.get(99) == -1
    assert ctx.errcode == 0 and ctx.errmsg == ""


def test_param_values_match_header(fm):
    hdr = header_enum("fm_param")
    assert {f"FM_PARAM_{p.name}": int(p) for p in fm.Param} == hdr


def test_context_set_get_and_errors(fm, ctx):
    ctx.set(fm.Param.MAX_PIXELS, 1234)
    assert ctx.get(fm.Param.MAX_PIXELS) == 1234
    with pytest.raises(fm.InvalidArgumentError) as ei:
        ctx.set(fm.Param.MAX_PIXELS, 0)
    assert ei.value.name == "FM_ERR_INVALID_ARGUMENT" and ei.value.message
    assert ctx.get(fm.Param.MAX_PIXELS) == 1234          # a refused setting leaves the old value
    assert ctx.errcode == fm.Status.FM_ERR_INVALID_ARGUMENT and ctx.errmsg == ei.value.message
    ctx.clear_error()
    assert ctx.errcode == 0 and ctx.errmsg == ""
    with pytest.raises(fm.InvalidArgumentError):
        ctx.set(99, 5)
    with pytest.raises(fm.InvalidArgumentError):
        ctx.set(fm.Param.THREADS, 100000)


def test_context_keyword_limits_and_close(fm):
    c = fm.Context(max_pixels=77)
    assert c.get(fm.Param.MAX_PIXELS) == 77
    c.close()
    c.close()  # idempotent
    with pytest.raises(fm.StateError):
        c.get(fm.Param.MAX_PIXELS)
    with fm.Context() as c2:
        pass
    with pytest.raises(fm.StateError):
        c2.set(fm.Param.MAX_PIXELS, 5)


def test_contexts_are_independent(fm):
    with fm.Context() as a, fm.Context() as b:
        a.set(fm.Param.MAX_DIMENSION, 10)
        assert b.get(fm.Param.MAX_DIMENSION) == 16384
        with pytest.raises(fm.InvalidArgumentError):
            a.set(fm.Param.MAX_DIMENSION, -3)
        assert b.errcode == 0 and b.errmsg == ""


# ---- SHA-256 and wipe ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 1 << 20])
def test_sha256_matches_hashlib(fm, n):
    data = bytes((i * 131 + 7) & 0xFF for i in range(n)) if n < 5000 else os.urandom(n)
    assert fm.sha256(data) == hashlib.sha256(data).hexdigest()
    assert fm.sha256(bytearray(data)) == hashlib.sha256(data).hexdigest()
    assert fm.sha256(memoryview(data)) == hashlib.sha256(data).hexdigest()


def test_sha256_known_vectors(fm):
    # FIPS 180-2 examples
    assert fm.sha256(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert fm.sha256(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    msg = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
    assert fm.sha256(msg) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"


def test_sha256_file(fm, tmp_path, ctx):
    p = tmp_path / "blob.bin"
    data = os.urandom(300_001)
    p.write_bytes(data)
    assert fm.sha256_file(p) == hashlib.sha256(data).hexdigest()
    assert fm.sha256_file(str(p), ctx=ctx) == hashlib.sha256(data).hexdigest()
    with pytest.raises(fm.IOError_) as ei:
        fm.sha256_file(tmp_path / "nope.bin", ctx=ctx)
    assert "nope.bin" in ei.value.message


def test_wipe(fm, np):
    b = bytearray(b"secret PIN 1234")
    fm.wipe(b)
    assert b == bytearray(len(b))
    a = np.full((4, 5), 7, dtype=np.uint8)
    fm.wipe(a)
    assert not a.any()
    with pytest.raises(TypeError):
        fm.wipe(b"immutable")


# ---- models --------------------------------------------------------------------------------------------------

def test_model_table_matches_manifest(fm):
    manifest = {r["id"]: r for r in read_manifest(os.path.join(REPO, "models", "manifest"))}
    table = fm.models()
    ids = header_enum("fm_model_id")
    count = ids.pop("FM_MODEL_COUNT")
    assert len(table) == count
    assert [m.id for m in table] == list(range(count))
    for enum_name, value in ids.items():
        m = table[value]
        # FM_MODEL_DLIB_RESNET <-> manifest id dlib_resnet
        assert m.name == enum_name[len("FM_MODEL_"):].lower()
        row = manifest[m.name]
        assert m.sha256 == row["sha256"]
        assert m.package == row["source"]
        assert m.licence == row["licence"]
        assert m.file == row["path"].rsplit("/", 1)[-1]
        assert re.fullmatch(r"[0-9a-f]{64}", m.sha256)
    # the non-commercial restriction of the 68-point model is visible in the table
    assert "noncommercial" in table[ids["FM_MODEL_DLIB_SP68"]].licence.lower()


def test_manifest_is_well_formed():
    rows = read_manifest(os.path.join(REPO, "models", "manifest"))
    tarball = {}
    files = set()
    for r in rows:
        assert re.fullmatch(r"[a-z0-9_]+", r["id"])
        assert re.fullmatch(r"[0-9a-f]{64}", r["sha256"])
        if r["source"].startswith("deb-extract:"):
            # a file written by models/tools/extract_<id>.cpp built against a pinned Debian package
            assert re.fullmatch(r"deb-extract:[a-z0-9.+-]+@\d+\.\d+\.\d+", r["source"]), r
            assert r["tarball_sha256"] == "-" and "/" not in r["path"] and not r["path"].startswith(".")
            assert os.path.isfile(os.path.join(REPO, "models", "tools", "extract_%s.cpp" % r["id"]))
        else:
            assert re.fullmatch(r"(@[\w.-]+/)?[\w.-]+@\d+\.\d+\.\d+", r["source"]), r
            assert re.fullmatch(r"[0-9a-f]{64}", r["tarball_sha256"])
            assert r["path"].startswith("package/") and ".." not in r["path"]
            assert tarball.setdefault(r["source"], r["tarball_sha256"]) == r["tarball_sha256"]
        name = r["path"].rsplit("/", 1)[-1]
        assert name not in files
        files.add(name)


def test_models_default_dir_rule(fm, monkeypatch, tmp_path):
    monkeypatch.setenv("FACEMATCH_MODELS", str(tmp_path / "m"))
    assert fm.models_default_dir() == str(tmp_path / "m")
    monkeypatch.setenv("FACEMATCH_MODELS", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fm.models_default_dir() == str(tmp_path / "xdg" / "facematch" / "models")
    monkeypatch.delenv("FACEMATCH_MODELS")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fm.models_default_dir() == str(tmp_path / "home" / ".cache" / "facematch" / "models")


@pytest.mark.parametrize("env", [
    {"FACEMATCH_MODELS": "/x/models"},
    {"FACEMATCH_MODELS": "", "XDG_CACHE_HOME": "/x/xdg"},
    {"HOME": "/x/home"},
])
def test_fetch_script_uses_the_library_rule(fm, monkeypatch, env):
    for k in ("FACEMATCH_MODELS", "XDG_CACHE_HOME"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = subprocess.run([os.path.join(REPO, "models", "fetch"), "--print-dir"], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == fm.models_default_dir()


def test_verify_model_file_and_memory(fm, tmp_path, ctx):
    m = fm.models()[0]
    bad = tmp_path / m.file
    bad.write_bytes(b"not the model")
    with pytest.raises(fm.ModelHashError) as ei:
        fm.verify_model_file(m.id, bad, ctx=ctx)
    msg = ei.value.message
    assert ei.value.name == "FM_ERR_MODEL_HASH"
    assert str(bad) in msg and m.sha256 in msg and hashlib.sha256(b"not the model").hexdigest() in msg
    with pytest.raises(fm.ModelHashError):
        fm.verify_model_memory(m.name, b"not the model")
    with pytest.raises(fm.IOError_):
        fm.verify_model_file(m.id, tmp_path / "missing.dat")
    with pytest.raises(fm.InvalidArgumentError):
        fm.verify_model_file(len(fm.models()), bad)
    with pytest.raises(fm.InvalidArgumentError):
        fm.verify_model_file(-1, bad)


def test_installed_models_verify(fm):
    """The fetched models (if any) verify through the library, and agree with hashlib."""
    d = fm.models_default_dir()
    present = [m for m in fm.models() if os.path.isfile(os.path.join(d, m.file))]
    if not present:
        pytest.skip(f"no models fetched into {d} (run models/fetch)")
    for m in present:
        path = os.path.join(d, m.file)
        fm.verify_model_file(m.name, path)
        if os.path.getsize(path) < 8 << 20:
            data = open(path, "rb").read()
            assert hashlib.sha256(data).hexdigest() == m.sha256
            fm.verify_model_memory(m.id, data)
            with pytest.raises(fm.ModelHashError):
                fm.verify_model_memory(m.id, data[:-1])


def test_library_coexists_with_numpy_and_opencv():
    """Loading libfacematch first must not break numpy/OpenCV (e.g. by pulling in a BLAS variant that clashes with
    the system's libblas.so.3)."""
    import subprocess
    import sys
    code = ("import sys; sys.path.insert(0, %r); import facematch; facematch.version(); "
            "import numpy; a = numpy.ones((64, 64)); assert (a @ a)[0, 0] == 64; "
            "import cv2; print('ok')") % os.path.join(REPO, "python")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]
