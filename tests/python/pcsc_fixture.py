"""The real card stack for the reset-flow tests: a private pcscd with vsmartcard's vpcd reader and the virtual card
(`facematch card sim`) as the vpcd client — the same set-up as test_card_pcsc.py (its logic copied here so that file
stays its owner's). start_stack() skips with the reason when pcscd/vpcd cannot run here (packages missing, another
pcscd owns /run/pcscd, /run not writable); stop_stack() ends only the processes it started, by their handles."""

import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import build_dir

VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
PCSCD_SOCKET = "/run/pcscd/pcscd.comm"


def free_port_pair():
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p >= 65535:
            continue
        try:
            s2 = socket.socket()
            s2.bind(("127.0.0.1", p + 1))
            s2.close()
            return p
        except OSError:
            continue
    pytest.skip("no free pair of TCP ports for vpcd")


def pcscd_running():
    if not os.path.exists(PCSCD_SOCKET):
        return False
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(PCSCD_SOCKET)
        return True
    except OSError:
        return False
    finally:
        s.close()


def write_portrait(path):
    """A synthetic 360x480 colour portrait-like image (PPM): no third-party data needed."""
    w, h = 360, 480
    rows = []
    for y in range(h):
        row = bytearray()
        for x in range(w):
            dx, dy = (x - 180) / 110.0, (y - 220) / 150.0
            row += bytes((200, 160, 130) if dx * dx + dy * dy < 1.0 else (60 + y // 4, 80, 120 + x // 4))
        rows.append(bytes(row))
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h))
        f.write(b"".join(rows))


class Stack:
    pass


def start_stack(d, holder):
    """d: a fresh directory; holder: the holder description (dict; the portrait is written as portrait.ppm)."""
    cli = os.path.join(build_dir(), "bin", "facematch")
    if not os.access(cli, os.X_OK):
        pytest.skip(f"facematch CLI not built at {cli}")
    if shutil.which("pcscd") is None:
        pytest.skip("pcscd not installed (Debian package pcscd)")
    if not os.path.exists(VPCD_DRIVER):
        pytest.skip(f"{VPCD_DRIVER} missing (Debian package vsmartcard-vpcd)")
    if pcscd_running():
        pytest.skip("another pcscd already serves /run/pcscd; this test needs its own pcscd with the vpcd reader")
    if os.geteuid() != 0 and not os.access("/run/pcscd", os.W_OK) and not os.access("/run", os.W_OK):
        pytest.skip("cannot create /run/pcscd for a private pcscd (needs root or a writable /run/pcscd)")
    port = free_port_pair()
    conf = d / "reader.conf.d"
    conf.mkdir()
    (conf / "vpcd").write_text('FRIENDLYNAME "Virtual PCD"\n'
                               f"DEVICENAME   /dev/null:0x{port:04X}\n"
                               f"LIBPATH      {VPCD_DRIVER}\n"
                               f"CHANNELID    {port}\n")
    write_portrait(d / "portrait.ppm")
    h = dict(holder, portrait="portrait.ppm")
    (d / "holder.json").write_text(json.dumps(h))
    st = Stack()
    st.dir, st.cli, st.port, st.ca = d, cli, port, d / "ca"
    st.procs = []
    st.logs = [open(d / "pcscd.log", "w"), open(d / "sim.log", "w")]
    st.pcscd = subprocess.Popen(["pcscd", "--foreground", "--config", str(conf)],
                                stdout=st.logs[0], stderr=subprocess.STDOUT)
    st.procs.append(st.pcscd)
    try:
        for _ in range(100):
            if os.path.exists(PCSCD_SOCKET):
                break
            time.sleep(0.05)
        st.sim = subprocess.Popen([cli, "card", "sim", "--holder", str(d / "holder.json"),
                                   "--vpcd", f"127.0.0.1:{port}", "--export-ca", str(st.ca)],
                                  stdout=st.logs[1], stderr=subprocess.STDOUT)
        st.procs.append(st.sim)
        for _ in range(60):
            r = subprocess.run([cli, "card", "tries", "--timeout", "500", "--json"], capture_output=True, text=True)
            if r.returncode == 0:
                return st
            time.sleep(0.5)
        pytest.fail("the virtual card never appeared in pcscd: " + (d / "sim.log").read_text()
                    + (d / "pcscd.log").read_text()[-2000:])
    except BaseException:
        stop_stack(st)
        raise


def stop_stack(st):
    for p in reversed(st.procs):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    for f in st.logs:
        f.close()
