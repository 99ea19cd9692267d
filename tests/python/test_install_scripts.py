"""The newcomer path: README's commands, .ci/run, scripts/setup's package list and its quiet, idempotent check."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO


def readme_section(name):
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- section: " + name + r" [^>]*-->\n(.*?)<!-- /section -->", text, re.S)
    assert m, f"README section {name} missing"
    return m.group(1)


def packages():
    out = []
    with open(os.path.join(REPO, "scripts", "packages.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                assert re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", line), line
                out.append(line)
    return out


def test_ci_runs_exactly_the_readme_test_command():
    quick = readme_section("quickstart")
    cmds = re.findall(r"^(\./scripts/\w+)", quick.split("```sh", 1)[1].split("```", 1)[0], re.M)
    assert cmds == ["./scripts/demo", "./scripts/test"], cmds
    with open(os.path.join(REPO, ".ci", "run"), encoding="utf-8") as f:
        ci = [line for line in f if line.strip() and not line.lstrip().startswith("#")]
    runs = [line for line in ci if "scripts/" in line]
    assert len(runs) == 1 and re.search(r"(^|\s)\./scripts/test(\s|$)", runs[0]), runs


def test_scripts_are_executable_and_parse():
    for p in (".ci/run", "scripts/setup", "scripts/test", "scripts/demo", "models/fetch"):
        path = os.path.join(REPO, p)
        assert os.access(path, os.X_OK), f"{p} is not executable"
        subprocess.run(["bash", "-n", path], check=True)
    ls = subprocess.run(["git", "-C", REPO, "ls-files", "-s", ".ci/run", "scripts/setup", "scripts/test",
                         "scripts/demo", "models/fetch"], capture_output=True, text=True)
    if ls.returncode == 0 and ls.stdout:
        for line in ls.stdout.splitlines():
            assert line.startswith("100755"), f"committed without the executable bit: {line}"


def test_package_list_names_real_debian_packages():
    if not shutil.which("apt-cache"):
        pytest.skip("not a Debian system")
    pk = packages()
    assert len(pk) == len(set(pk)), "duplicate package"
    for must in ("cmake", "clang", "libturbojpeg0-dev", "libopenjp2-7-dev", "libopenjp2-tools", "python3-pytest",
                 "python3-numpy", "python3-opencv", "facedetect"):
        assert must in pk
    out = subprocess.run(["apt-cache", "policy", *pk], capture_output=True, text=True).stdout
    known = re.findall(r"^(\S+):\n", out, re.M)
    missing = [p for p in pk if p not in known]
    if len(missing) == len(pk):
        pytest.skip("apt lists are empty here (apt-get update has not run)")
    assert not missing, f"unknown to apt: {missing}"


def test_setup_is_quiet_when_everything_is_installed():
    if not shutil.which("dpkg-query"):
        pytest.skip("not a Debian system")
    missing = []
    for p in packages():
        st = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", p], capture_output=True, text=True)
        if not st.stdout.startswith("ii"):
            missing.append(p)
    if missing or not shutil.which("npm"):
        pytest.skip(f"not every package is installed here ({missing or 'npm'}): setup would install them")
    r = subprocess.run([os.path.join(REPO, "scripts", "setup"), "--no-models", "--no-samples", "--no-build"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", (r.stdout, r.stderr)
