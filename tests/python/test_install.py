"""`cmake --install` of the build tree into a temporary prefix, then tests/install/ (a tiny C consumer) built with
find_package(facematch) and with pkg-config, shared and static, and run. Checks the SONAME with readelf."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO, build_dir


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    b = build_dir()
    if not os.path.isfile(os.path.join(b, "CMakeCache.txt")):
        pytest.skip(f"no configured build in {b} (scripts/setup builds one; FM_BUILD_DIR selects another)")
    for tool in ("cmake", "cc", "pkg-config", "readelf", "nm"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (scripts/setup installs it)")
    p = tmp_path_factory.mktemp("install") / "prefix"
    run(["cmake", "--install", b, "--prefix", str(p)])
    return p


def find_one(root, name):
    hits = [os.path.join(d, name) for d, _, files in os.walk(root) if name in files]
    assert len(hits) == 1, f"{name} in {root}: {hits}"
    return hits[0]


def test_installed_layout_and_soname(prefix):
    assert (prefix / "include" / "facematch.h").is_file()
    so0 = find_one(prefix, "libfacematch.so.0")
    libdir = os.path.dirname(so0)
    for name in ("libfacematch.so", "libfacematch.a", "pkgconfig/facematch.pc",
                 "cmake/facematch/facematchConfig.cmake", "cmake/facematch/facematchConfigVersion.cmake",
                 "cmake/facematch/facematchTargets.cmake"):
        assert os.path.exists(os.path.join(libdir, name)), name
    assert os.path.islink(os.path.join(libdir, "libfacematch.so"))
    real = os.path.realpath(so0)
    assert re.fullmatch(r"libfacematch\.so\.0\.\d+\.\d+", os.path.basename(real))
    dyn = run(["readelf", "-d", real])
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", dyn)
    assert m and m.group(1) == "libfacematch.so.0", dyn
    assert (prefix / "bin" / "facematch").is_file()


def test_library_exports_only_the_public_api(prefix):
    so = os.path.realpath(find_one(prefix, "libfacematch.so.0"))
    out = run(["nm", "-D", "--defined-only", so])
    syms = [line.split()[-1] for line in out.splitlines() if line.split()[1:2] and line.split()[1] in "TDBR"]
    assert syms, out
    leaked = [s for s in syms if not s.startswith("fm_")]
    assert not leaked, f"non-API symbols exported from libfacematch.so: {leaked[:20]}"
    with open(prefix / "include" / "facematch.h", encoding="utf-8") as f:
        header = f.read()
    undeclared = [s for s in syms if not re.search(r"\b" + re.escape(s) + r"\s*\(", header)]
    assert not undeclared, f"exported but not in facematch.h: {undeclared}"


def test_find_package_consumer(prefix, tmp_path):
    b = tmp_path / "consumer-build"
    run(["cmake", "-S", os.path.join(REPO, "tests", "install"), "-B", str(b), f"-DCMAKE_PREFIX_PATH={prefix}"])
    run(["cmake", "--build", str(b), "-j2"])
    out = run([str(b / "consumer")])
    assert out.startswith("consumer ok ")
    # the shared consumer uses the installed library, not the build tree's
    ldd = run(["ldd", str(b / "consumer")])
    assert str(prefix) in ldd, ldd
    assert run([str(b / "consumer_static")]).startswith("consumer ok ")
    assert "libfacematch" not in run(["ldd", str(b / "consumer_static")])


def test_pkg_config_consumer(prefix, tmp_path):
    pc_dir = os.path.dirname(find_one(prefix, "facematch.pc"))
    env = dict(os.environ, PKG_CONFIG_PATH=pc_dir)
    cflags = run(["pkg-config", "--cflags", "facematch"], env=env).split()
    libs = run(["pkg-config", "--libs", "facematch"], env=env).split()
    assert str(prefix / "include") in [os.path.normpath(f[2:]) for f in cflags if f.startswith("-I")], cflags
    assert "-lfacematch" in libs
    assert run(["pkg-config", "--modversion", "facematch"], env=env).strip() == \
        run([str(prefix / "bin" / "facematch"), "--version"]).split()[-1]
    src = os.path.join(REPO, "tests", "install", "main.c")
    exe = tmp_path / "consumer_pc"
    run(["cc", "-std=c11", "-Wall", "-Werror", src, "-o", str(exe), *cflags, *libs])
    out = run([str(exe)], env=dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(find_one(prefix, "libfacematch.so"))))
    assert out.startswith("consumer ok ")
    # static: the installed archive plus every private dependency pkg-config lists
    static_libs = run(["pkg-config", "--static", "--libs", "facematch"], env=env).split()
    archive = find_one(prefix, "libfacematch.a")
    static_libs = [archive if f == "-lfacematch" else f for f in static_libs]
    exe_s = tmp_path / "consumer_pc_static"
    run(["cc", "-std=c11", src, "-o", str(exe_s), *cflags, *static_libs])
    assert run([str(exe_s)]).startswith("consumer ok ")
