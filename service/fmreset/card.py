"""The kiosk's card reader: libfacematch's card layer (fm_card_*) through ctypes, over PC/SC or over a direct vpcd link.

Transports:
  PcscTransport(reader=None)      pcsc-lite through libfacematch (fm_pcsc_open / fm_pcsc_transmit), i.e. pcscd +
                                  any reader driver (the tests use vsmartcard's vpcd with the virtual card).
  VpcdLinkTransport.listen(...)   the vpcd wire protocol without pcscd (for `facematch demo` on a machine where no
                                  private pcscd can run): we listen on 127.0.0.1, the virtual card connects as the vpcd
                                  client (2-byte big-endian length + payload; 1-byte 01 = power on, 04 = get ATR).

PIN handling: PINs go to the library as bytes in a ctypes buffer that is wiped (fm_wipe) right after the call; the
library checks the format, reads the tries first, refuses the last try, and wipes its APDU buffers.
"""

import ctypes
import socket
import struct

import facematch
from facematch._native import lib as _lib

_st = ctypes.c_int
_vp = ctypes.c_void_p
_u8p = ctypes.POINTER(ctypes.c_uint8)
_sizep = ctypes.POINTER(ctypes.c_size_t)
TRANSMIT_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _u8p, ctypes.c_size_t, _u8p, ctypes.c_size_t, _sizep)

PIN_AUTH, PIN_SIGN = 1, 2
JPKI_AID = bytes.fromhex("D392F000260100000001")
PIN_FID = {PIN_AUTH: 0x0018, PIN_SIGN: 0x001B}
MAX_TRIES = {PIN_AUTH: 3, PIN_SIGN: 5}

_SIGS = {
    "fm_card_create": (_st, [_vp, _vp, _vp, ctypes.POINTER(_vp)]),
    "fm_card_destroy": (None, [_vp]),
    "fm_card_pin_tries": (_st, [_vp, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]),
    "fm_card_jpki_auth_cert": (_st, [_vp, _u8p, ctypes.c_size_t, _sizep]),
    "fm_card_jpki_verify_auth_pin": (_st, [_vp, _vp, ctypes.c_uint, ctypes.POINTER(ctypes.c_int)]),
    "fm_card_jpki_verify_sign_pin": (_st, [_vp, _vp, ctypes.c_uint, ctypes.POINTER(ctypes.c_int)]),
    "fm_card_jpki_sign_auth": (_st, [_vp, _u8p, _u8p, ctypes.c_size_t, _sizep]),
    "fm_card_jpki_sign_cert": (_st, [_vp, _u8p, ctypes.c_size_t, _sizep]),
    "fm_card_jpki_sign_sign": (_st, [_vp, _u8p, _u8p, ctypes.c_size_t, _sizep]),
    "fm_pcsc_open": (_st, [_vp, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_vp)]),
    "fm_pcsc_close": (None, [_vp]),
    "fm_pcsc_transmit": (ctypes.c_int, [_vp, _u8p, ctypes.c_size_t, _u8p, ctypes.c_size_t, _sizep]),
    "fm_pcsc_list_readers": (_st, [_vp, ctypes.c_char_p, ctypes.c_size_t, _sizep]),
    "fm_wipe": (None, [_vp, ctypes.c_size_t]),
}
_funcs = {}


def _fn(name):
    f = _funcs.get(name)
    if f is None:
        f = getattr(_lib().cdll, name)
        f.restype, f.argtypes = _SIGS[name]
        _funcs[name] = f
    return f


class CardFailure(Exception):
    """A card step failed: status name (FM_ERR_PIN_WRONG, ...), library message (never holds a PIN), tries left."""

    def __init__(self, status, message, tries=None):
        super().__init__(message)
        self.status, self.message, self.tries = status, message, tries


def list_readers():
    with facematch.Context() as c:
        buf = ctypes.create_string_buffer(8192)
        n = ctypes.c_size_t(0)
        c._check(_fn("fm_pcsc_list_readers")(c.handle, buf, len(buf), ctypes.byref(n)))
        return [x.decode() for x in buf.raw.split(b"\0") if x][: n.value]


class PcscTransport:
    def __init__(self, reader=None, timeout_ms=2000):
        self._ctx = facematch.Context()
        h = _vp()
        st = _fn("fm_pcsc_open")(self._ctx.handle, reader.encode() if reader else None, int(timeout_ms),
                                 ctypes.byref(h))
        if st:
            msg = self._ctx.errmsg
            self._ctx.close()
            raise CardFailure(facematch.status_name(st), msg)
        self._h = h

    def c_transmit(self):
        """(function pointer, user) for fm_card_create."""
        return ctypes.cast(_lib().cdll.fm_pcsc_transmit, _vp).value, self._h.value

    def transmit(self, apdu):
        a = (ctypes.c_uint8 * len(apdu)).from_buffer_copy(apdu)
        r = (ctypes.c_uint8 * 4096)()
        n = ctypes.c_size_t(0)
        rc = _fn("fm_pcsc_transmit")(self._h, a, len(apdu), r, 4096, ctypes.byref(n))
        _fn("fm_wipe")(ctypes.cast(a, _vp), len(apdu))
        if rc:
            raise CardFailure("FM_ERR_CARD_TRANSPORT", f"PC/SC transmit failed ({rc})")
        out = bytes(r[: n.value])
        _fn("fm_wipe")(ctypes.cast(r, _vp), 4096)
        return out

    def close(self):
        if getattr(self, "_h", None):
            _fn("fm_pcsc_close")(self._h)
            self._h = None
            self._ctx.close()


class VpcdLinkTransport:
    """We play vpcd's part on a loopback socket; the virtual card connects to us."""

    def __init__(self, sock):
        self._s = sock
        self._cb = TRANSMIT_FN(self._c_cb)
        self._send(b"\x01")  # power on

    @classmethod
    def listen(cls, host="127.0.0.1", port=0):
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the vpcd link listens on loopback only")
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("127.0.0.1", int(port)))
        srv.listen(1)
        return srv

    @classmethod
    def accept(cls, srv, timeout=30.0):
        srv.settimeout(timeout)
        s, _ = srv.accept()
        s.settimeout(timeout)
        srv.close()
        return cls(s)

    def _send(self, payload):
        self._s.sendall(struct.pack(">H", len(payload)) + payload)

    def _recv_exact(self, n):
        b = bytearray()
        while len(b) < n:
            chunk = self._s.recv(n - len(b))
            if not chunk:
                raise CardFailure("FM_ERR_CARD_TRANSPORT", "vpcd link: the card went away")
            b += chunk
        return bytes(b)

    def transmit(self, apdu):
        self._send(bytes(apdu))
        (n,) = struct.unpack(">H", self._recv_exact(2))
        return self._recv_exact(n)

    def _c_cb(self, _user, apdu, apdu_len, resp, cap, resp_len):
        try:
            r = self.transmit(bytes(apdu[:apdu_len]))
        except Exception:
            return 4  # FM_CARD_TX_IO
        if len(r) > cap:
            return 3  # FM_CARD_TX_OVERFLOW
        ctypes.memmove(resp, r, len(r))
        resp_len[0] = len(r)
        return 0

    def c_transmit(self):
        return ctypes.cast(self._cb, _vp).value, None

    def close(self):
        if self._s:
            try:
                self._send(b"\x00")  # power off
            except OSError:
                pass
            self._s.close()
            self._s = None


class Card:
    """An fm_card session over a transport."""

    def __init__(self, transport):
        self.t = transport
        self._ctx = facematch.Context()
        fn, user = transport.c_transmit()
        h = _vp()
        self._ctx._check(_fn("fm_card_create")(self._ctx.handle, fn, user, ctypes.byref(h)))
        self._h = h

    def close(self):
        if getattr(self, "_h", None):
            _fn("fm_card_destroy")(self._h)
            self._h = None
            self._ctx.close()

    def _fail(self, st, tries=None):
        raise CardFailure(facematch.status_name(st), self._ctx.errmsg, tries)

    def auth_cert(self):
        buf = (ctypes.c_uint8 * 8192)()
        n = ctypes.c_size_t(0)
        st = _fn("fm_card_jpki_auth_cert")(self._h, buf, 8192, ctypes.byref(n))
        if st:
            self._fail(st)
        return bytes(buf[: n.value])

    def tries(self, pin):
        t = ctypes.c_int(-1)
        st = _fn("fm_card_pin_tries")(self._h, pin, ctypes.byref(t))
        if st:
            self._fail(st)
        return t.value

    def verify_pin(self, pin, value):
        """VERIFY the auth (PIN_AUTH) or signing (PIN_SIGN) PIN; the library's PIN-safety rules apply."""
        name = "fm_card_jpki_verify_auth_pin" if pin == PIN_AUTH else "fm_card_jpki_verify_sign_pin"
        b = ctypes.create_string_buffer(value.encode("ascii", "replace"), 32)
        t = ctypes.c_int(-1)
        try:
            st = _fn(name)(self._h, b, 0, ctypes.byref(t))
        finally:
            _fn("fm_wipe")(b, 32)
        if st:
            self._fail(st, t.value)
        return t.value

    def sign_auth(self, digest):
        """JPKI authentication-key signature of a SHA-256 digest (the auth PIN must be verified first)."""
        return self._sign("fm_card_jpki_sign_auth", digest)

    def sign_sign(self, digest):
        """JPKI signing-key signature of a SHA-256 digest (the signing PIN must be verified first)."""
        return self._sign("fm_card_jpki_sign_sign", digest)

    def _sign(self, name, digest):
        d = (ctypes.c_uint8 * 32).from_buffer_copy(digest)
        sig = (ctypes.c_uint8 * 512)()
        n = ctypes.c_size_t(0)
        st = _fn(name)(self._h, d, sig, 512, ctypes.byref(n))
        if st:
            self._fail(st)
        return bytes(sig[: n.value])

    def sign_cert(self):
        """The signing certificate (EF 0001; the signing PIN must be verified first)."""
        buf = (ctypes.c_uint8 * 8192)()
        n = ctypes.c_size_t(0)
        st = _fn("fm_card_jpki_sign_cert")(self._h, buf, 8192, ctypes.byref(n))
        if st:
            self._fail(st)
        out = bytes(buf[: n.value])
        _fn("fm_wipe")(ctypes.cast(buf, _vp), 8192)
        return out

    def admin_reset_pin(self, pin, new_pin, admin_key):
        """The virtual card's administrative command (fmcardsim.h: 80 2C 00 00 Lc key16 FID2 newPIN): sets the new
        PIN and restores the retry counter. A real kiosk uses the JPKI operator's channel instead; this is the only
        card-specific line of the flow. Raises CardFailure unless the card answers 9000."""
        sel = self.t.transmit(bytes([0x00, 0xA4, 0x04, 0x0C, len(JPKI_AID)]) + JPKI_AID)
        if sel[-2:] != b"\x90\x00":
            raise CardFailure("FM_ERR_CARD_STATUS", f"SELECT JPKI AP answered {sel[-2:].hex().upper()}")
        body = bytearray(admin_key) + struct.pack(">H", PIN_FID[pin]) + bytearray(new_pin.encode("ascii"))
        apdu = bytearray([0x80, 0x2C, 0x00, 0x00, len(body)]) + body
        try:
            r = self.t.transmit(bytes(apdu))
        finally:
            for buf in (body, apdu):
                for i in range(len(buf)):
                    buf[i] = 0
        sw = r[-2:].hex().upper()
        if sw != "9000":
            raise CardFailure("FM_ERR_CARD_STATUS", f"administrative PIN reset refused by the card ({sw})")
