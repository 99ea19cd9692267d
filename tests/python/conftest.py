"""Shared pytest fixtures for tests/python: the binding on sys.path, the repo, test data and sample media.

Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/python -q -rs
  FACEMATCH_LIB  library to test (default <repo>/build/libfacematch.so; scripts/test sets it)
  FM_BUILD_DIR   build tree (default <repo>/build) for tests that need more than the library (install test)
  FM_DATA_DIR    shared test data (default <repo>/../shared/data); tests that need it skip when it is absent
"""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "python"))


def build_dir():
    return os.environ.get("FM_BUILD_DIR") or os.path.join(REPO, "build")


if not os.environ.get("FACEMATCH_LIB"):
    os.environ["FACEMATCH_LIB"] = os.path.join(build_dir(), "libfacematch.so")


def data_dir():
    d = os.environ.get("FM_DATA_DIR") or os.path.join(REPO, "..", "shared", "data")
    return os.path.abspath(d)


def samples_dir():
    return os.environ.get("FACEMATCH_SAMPLES") or os.path.join(REPO, "samples", "media")


def models_dir():
    """The models directory the library uses by default: $FACEMATCH_MODELS, else ~/.cache/facematch/models."""
    return os.environ.get("FACEMATCH_MODELS") or os.path.join(os.path.expanduser("~"), ".cache", "facematch",
                                                              "models")


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def fm():
    """The facematch binding module, loaded against FACEMATCH_LIB."""
    import facematch
    return facematch


@pytest.fixture
def ctx(fm):
    with fm.Context() as c:
        yield c


@pytest.fixture(scope="session")
def shared_data():
    d = data_dir()
    if not os.path.isdir(os.path.join(d, "faces")):
        pytest.skip(f"shared test data not found at {d} (set FM_DATA_DIR, or put shared/ beside the checkout)")
    return d


@pytest.fixture(scope="session")
def samples():
    d = samples_dir()
    if not os.path.isfile(os.path.join(d, "grace_hopper_512x512.jpg")):
        pytest.skip(f"sample media not fetched into {d} (run models/fetch --samples, or scripts/setup)")
    return d


@pytest.fixture(scope="session")
def cv2():
    try:
        import cv2 as _cv2
    except ImportError:
        pytest.skip("python3-opencv is not installed (scripts/setup installs it): no independent decoder")
    return _cv2


@pytest.fixture(scope="session")
def np():
    import numpy
    return numpy


def read_manifest(path):
    """Parses a manifest (models/manifest format) independently of the C and shell parsers."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            assert len(fields) == 6, f"{path}: 6 fields expected: {line}"
            rows.append(dict(zip(("id", "source", "tarball_sha256", "path", "sha256", "licence"), fields)))
    return rows
