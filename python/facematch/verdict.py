"""Signed match verdicts (issue 6) through libfacematch: keys, signing and verification.

    from facematch import verdict
    key = verdict.Key.generate("ES256")
    token = verdict.sign_json(key, input_json, card_cert_der=cert, card_signer=signer)
    res = verdict.Verifier(key, cas=[ca_pem]).verify(token, nonce="00..", aud="svc")
    res.valid, res.failed_check, res.payload

The token format is specified in docs/verdict-format.md. A card signer is a Python callable digest(32 bytes) ->
signature bytes (RSASSA-PKCS1-v1_5 over DigestInfo(SHA-256, digest), as the JPKI card makes it), or
CardKey(rsa_key) for the library's software stand-in.
"""

import ctypes
import json
import os

from . import Context, _Handle, _raise, _s, _typed_functions
from ._native import lib as _lib

_ctx = ctypes.c_void_p
_key = ctypes.c_void_p
_ver = ctypes.c_void_p
_st = ctypes.c_int
_u8p = ctypes.POINTER(ctypes.c_uint8)
_sizep = ctypes.POINTER(ctypes.c_size_t)

CARD_SIGN_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, _u8p, _u8p, ctypes.c_size_t, _sizep)

TOKEN_MAX = 65536
ALGS = {"ES256": 1, "EdDSA": 2}
CHECKS = ["valid", "malformed", "alg", "signature", "nonce", "aud", "expired", "card_signature", "chain"]


class Result(ctypes.Structure):
    """struct fm_verdict_result (facematch.h)"""
    _fields_ = [("valid", ctypes.c_int), ("failed_check", ctypes.c_int), ("detail", ctypes.c_char * 192),
                ("chain_checked", ctypes.c_int), ("alg", ctypes.c_int), ("decision", ctypes.c_int),
                ("jti", ctypes.c_char * 33), ("kid", ctypes.c_char * 44), ("aud", ctypes.c_char * 257),
                ("nonce", ctypes.c_char * 129), ("iat", ctypes.c_int64), ("exp", ctypes.c_int64),
                ("portrait_sha256", ctypes.c_char * 65), ("portrait_auth", ctypes.c_int),
                ("card_cert_sha256", ctypes.c_char * 65), ("distance", ctypes.c_double),
                ("similarity", ctypes.c_double), ("threshold", ctypes.c_double), ("fmr", ctypes.c_double)]


_SIGS = {
    "fm_verdict_key_generate": (_st, [_ctx, ctypes.c_int, ctypes.POINTER(_key)]),
    "fm_verdict_key_load": (_st, [_ctx, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_key)]),
    "fm_verdict_key_load_file": (_st, [_ctx, ctypes.c_char_p, ctypes.POINTER(_key), ctypes.POINTER(ctypes.c_uint)]),
    "fm_verdict_key_destroy": (None, [_key]),
    "fm_verdict_key_alg": (ctypes.c_int, [_key]),
    "fm_verdict_key_is_private": (ctypes.c_int, [_key]),
    "fm_verdict_key_id": (_st, [_ctx, _key, ctypes.c_char_p]),
    "fm_verdict_key_public_pem": (_st, [_ctx, _key, ctypes.c_char_p, ctypes.c_size_t, _sizep]),
    "fm_verdict_key_write_private": (_st, [_ctx, _key, ctypes.c_char_p, ctypes.c_int]),
    "fm_verdict_key_write_public": (_st, [_ctx, _key, ctypes.c_char_p, ctypes.c_int]),
    "fm_verdict_sign_json": (_st, [_ctx, _key, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                                   ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, _sizep]),
    "fm_verdict_verifier_create": (_st, [_ctx, _key, ctypes.POINTER(_ver)]),
    "fm_verdict_verifier_destroy": (None, [_ver]),
    "fm_verdict_verifier_set": (_st, [_ctx, _ver, ctypes.c_int, ctypes.c_int64]),
    "fm_verdict_verifier_add_ca": (_st, [_ctx, _ver, ctypes.c_char_p, ctypes.c_size_t]),
    "fm_verdict_verify": (_st, [_ctx, _ver, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_char_p,
                                ctypes.c_int64, ctypes.POINTER(Result), ctypes.c_char_p, ctypes.c_size_t, _sizep]),
}
_fn = _typed_functions(_SIGS)


def _card_sign_ptr():
    """Address of fm_verdict_key_card_sign (the library's software card stand-in)."""
    return ctypes.cast(_lib().cdll.fm_verdict_key_card_sign, ctypes.c_void_p).value


class Key(_Handle):
    """An fm_verdict_key (ES256/EdDSA signing or verification key, or an RSA card stand-in key)."""

    _destroy = "fm_verdict_key_destroy"
    _what = "key"
    _lookup = staticmethod(_fn)

    def __init__(self, handle):
        self._h = handle

    @classmethod
    def generate(cls, alg="ES256"):
        with Context() as c:
            h = _key()
            c._check(_fn("fm_verdict_key_generate")(c.handle, ALGS[alg], ctypes.byref(h)))
            return cls(h)

    @classmethod
    def load(cls, data):
        data = data.encode() if isinstance(data, str) else bytes(data)
        with Context() as c:
            h = _key()
            c._check(_fn("fm_verdict_key_load")(c.handle, data, len(data), ctypes.byref(h)))
            return cls(h)

    @classmethod
    def load_file(cls, path):
        """(Key, insecure_permissions: bool)"""
        with Context() as c:
            h = _key()
            flags = ctypes.c_uint(0)
            c._check(_fn("fm_verdict_key_load_file")(c.handle, os.fsencode(path), ctypes.byref(h),
                                                     ctypes.byref(flags)))
            return cls(h), bool(flags.value & 1)

    @property
    def alg(self):
        return {1: "ES256", 2: "EdDSA"}.get(_fn("fm_verdict_key_alg")(self._h))

    @property
    def is_private(self):
        return bool(_fn("fm_verdict_key_is_private")(self._h))

    @property
    def kid(self):
        with Context() as c:
            b = ctypes.create_string_buffer(44)
            c._check(_fn("fm_verdict_key_id")(c.handle, self._h, b))
            return _s(b.value)

    def public_pem(self):
        with Context() as c:
            b = ctypes.create_string_buffer(4096)
            n = ctypes.c_size_t(0)
            c._check(_fn("fm_verdict_key_public_pem")(c.handle, self._h, b, 4096, ctypes.byref(n)))
            return b.value.decode()

    def write_private(self, path, overwrite=False):
        with Context() as c:
            c._check(_fn("fm_verdict_key_write_private")(c.handle, self._h, os.fsencode(path), int(overwrite)))


def sign_json(key, description, card_cert=None, card_signer=None):
    """Signs a verdict from its JSON description (dict or str). card_signer: Key (RSA stand-in) or a callable
    digest -> signature. Returns the token (str)."""
    if not isinstance(description, (str, bytes)):
        description = json.dumps(description)
    if isinstance(description, str):
        description = description.encode()
    cert = bytes(card_cert) if card_cert is not None else None
    errors = []
    keep = None
    if card_signer is None:
        fn, user = None, None
    elif isinstance(card_signer, Key):
        fn, user = _card_sign_ptr(), card_signer._h
    else:
        def trampoline(_user, digest, sig, cap, sig_len):
            try:
                s = card_signer(bytes(digest[:32]))
                if len(s) > cap:
                    return 5
                ctypes.memmove(sig, s, len(s))
                sig_len[0] = len(s)
                return 0
            except Exception as e:  # reported after the call
                errors.append(e)
                return 100
        keep = CARD_SIGN_FN(trampoline)
        fn, user = ctypes.cast(keep, ctypes.c_void_p).value, None
    with Context() as c:
        out = ctypes.create_string_buffer(TOKEN_MAX)
        n = ctypes.c_size_t(0)
        st = _fn("fm_verdict_sign_json")(c.handle, key._h, description, len(description), cert,
                                         len(cert) if cert else 0, fn, user, out, TOKEN_MAX, ctypes.byref(n))
        del keep
        if errors:
            raise errors[0]
        c._check(st)
        return out.raw[:n.value].decode("ascii")


class Verification:
    """Outcome of Verifier.verify: valid, failed_check (None or the check name), detail, payload (dict or None),
    and the C result struct as .raw."""

    def __init__(self, res, payload):
        self.raw = res
        self.valid = bool(res.valid)
        self.failed_check = None if res.valid else CHECKS[res.failed_check]
        self.detail = _s(res.detail)
        self.chain_checked = bool(res.chain_checked)
        self.payload = json.loads(payload) if payload else None

    def __repr__(self):
        return f"Verification(valid={self.valid}, failed_check={self.failed_check!r}, detail={self.detail!r})"


class Verifier(_Handle):
    """An fm_verdict_verifier for one engine public key plus CA certificates (PEM/DER bytes)."""

    _destroy = "fm_verdict_verifier_destroy"
    _what = "verifier"
    _lookup = staticmethod(_fn)

    SETTINGS = {"clock_skew": 1, "max_lifetime": 2, "require_card": 3, "check_chain": 4, "max_token": 5}

    def __init__(self, key, cas=(), **settings):
        self._key = key
        with Context() as c:
            h = _ver()
            c._check(_fn("fm_verdict_verifier_create")(c.handle, key._h, ctypes.byref(h)))
            self._h = h
            for ca in cas:
                ca = ca.encode() if isinstance(ca, str) else bytes(ca)
                c._check(_fn("fm_verdict_verifier_add_ca")(c.handle, self._h, ca, len(ca)))
            for k, v in settings.items():
                c._check(_fn("fm_verdict_verifier_set")(c.handle, self._h, self.SETTINGS[k], int(v)))

    def verify(self, token, nonce, aud, now=0):
        tok = token.encode() if isinstance(token, str) else bytes(token)
        res = Result()
        payload = ctypes.create_string_buffer(TOKEN_MAX)
        pl = ctypes.c_size_t(0)
        with Context() as c:
            st = _fn("fm_verdict_verify")(c.handle, self._h, tok, len(tok), nonce.encode(), aud.encode(), int(now),
                                          ctypes.byref(res), payload, TOKEN_MAX, ctypes.byref(pl))
            if st not in (0, 101):  # FM_OK, FM_ERR_VERIFY
                _raise(st, c.errmsg)
        return Verification(res, payload.raw[:pl.value].decode() if pl.value else None)
