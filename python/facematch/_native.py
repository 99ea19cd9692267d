"""Loading libfacematch and declaring the C signatures (argtypes/restype) of every function the binding calls.

Where the library comes from, first match wins:
  1. $FACEMATCH_LIB (a path to libfacematch.so*),
  2. build/libfacematch.so of the source tree this package sits in (python/facematch/ -> ../../build),
  3. the system (libfacematch.so.0 through the dynamic loader, e.g. after `cmake --install`).

Functions are declared lazily, on first use, so that a library built from an older tree still loads: calling a
function it does not export raises FacematchError(FM_ERR_UNSUPPORTED) naming the symbol.
"""

import ctypes
import ctypes.util
import os
import threading

c_int_p = ctypes.POINTER(ctypes.c_int)
c_size_p = ctypes.POINTER(ctypes.c_size_t)
c_u8_p = ctypes.POINTER(ctypes.c_uint8)


class ImageInfo(ctypes.Structure):
    """struct fm_image_info"""
    _fields_ = [("format", ctypes.c_int), ("width", ctypes.c_int), ("height", ctypes.c_int),
                ("channels", ctypes.c_int), ("bit_depth", ctypes.c_int)]


class ModelDesc(ctypes.Structure):
    """struct fm_model_desc"""
    _fields_ = [("name", ctypes.c_char_p), ("file", ctypes.c_char_p), ("sha256", ctypes.c_char_p),
                ("package", ctypes.c_char_p), ("licence", ctypes.c_char_p)]


_ctx = ctypes.c_void_p     # fm_ctx *
_img = ctypes.c_void_p     # fm_image *
_st = ctypes.c_int         # fm_status (C enum: int-sized)

# name: (restype, [argtypes])  — one entry per C function the binding uses, as declared in facematch.h
SIGNATURES = {
    # core
    "fm_version": (ctypes.c_char_p, []),
    "fm_status_name": (ctypes.c_char_p, [_st]),
    "fm_status_str": (ctypes.c_char_p, [_st]),
    "fm_ctx_create": (_ctx, []),
    "fm_ctx_destroy": (None, [_ctx]),
    "fm_ctx_errmsg": (ctypes.c_char_p, [_ctx]),
    "fm_ctx_errcode": (_st, [_ctx]),
    "fm_ctx_clear_error": (None, [_ctx]),
    "fm_ctx_set": (_st, [_ctx, ctypes.c_int, ctypes.c_int64]),
    "fm_ctx_get": (ctypes.c_int64, [_ctx, ctypes.c_int]),
    "fm_wipe": (None, [ctypes.c_void_p, ctypes.c_size_t]),
    "fm_sha256": (None, [ctypes.c_void_p, ctypes.c_size_t, c_u8_p, ctypes.c_char_p]),
    "fm_sha256_file": (_st, [_ctx, ctypes.c_char_p, c_u8_p, ctypes.c_char_p]),
    # models
    "fm_model_describe": (_st, [ctypes.c_int, ctypes.POINTER(ModelDesc)]),
    "fm_models_default_dir": (_st, [ctypes.c_char_p, ctypes.c_size_t]),
    "fm_model_verify_file": (_st, [_ctx, ctypes.c_int, ctypes.c_char_p]),
    "fm_model_verify_memory": (_st, [_ctx, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]),
    # images
    "fm_image_detect_format": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t]),
    "fm_image_exif_orientation": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t]),
    "fm_format_name": (ctypes.c_char_p, [ctypes.c_int]),
    "fm_pixfmt_bpp": (ctypes.c_int, [ctypes.c_int]),
    "fm_pixfmt_name": (ctypes.c_char_p, [ctypes.c_int]),
    "fm_image_probe": (_st, [_ctx, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ImageInfo)]),
    "fm_image_decode": (_st, [_ctx, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.POINTER(_img),
                              ctypes.POINTER(ImageInfo)]),
    "fm_image_load": (_st, [_ctx, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_img), ctypes.POINTER(ImageInfo)]),
    "fm_image_create": (_st, [_ctx, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(_img)]),
    "fm_image_wrap": (_st, [_ctx, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                            c_int_p, ctypes.c_int, ctypes.POINTER(_img)]),
    "fm_image_destroy": (None, [_img]),
    "fm_image_width": (ctypes.c_int, [_img]),
    "fm_image_height": (ctypes.c_int, [_img]),
    "fm_image_pixfmt": (ctypes.c_int, [_img]),
    "fm_image_rotation": (ctypes.c_int, [_img]),
    "fm_image_plane": (ctypes.c_void_p, [_img, ctypes.c_int, c_int_p]),
    "fm_image_pixels": (ctypes.c_void_p, [_img, ctypes.c_int, c_int_p]),
    "fm_image_convert": (_st, [_ctx, _img, ctypes.c_int, ctypes.POINTER(_img)]),
    "fm_image_copy_to": (_st, [_ctx, _img, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]),
    "fm_image_resize": (_st, [_ctx, _img, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(_img)]),
    "fm_image_crop": (_st, [_ctx, _img, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                            ctypes.POINTER(_img)]),
    "fm_image_warp_affine": (_st, [_ctx, _img, ctypes.POINTER(ctypes.c_double), ctypes.c_int, ctypes.c_int,
                                   ctypes.POINTER(_img)]),
    "fm_image_encode": (_st, [_ctx, _img, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, c_size_p]),
}


def _candidates():
    env = os.environ.get("FACEMATCH_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.normpath(os.path.join(here, "..", "..", "build", "libfacematch.so"))]
    found = ctypes.util.find_library("facematch")
    out.append(found or "libfacematch.so.0")
    return out


class Library:
    """The loaded shared library plus lazily declared functions."""

    def __init__(self):
        errors = []
        self.cdll = None
        for cand in _candidates():
            if os.sep in cand and not os.path.exists(cand):
                errors.append(f"{cand}: no such file")
                continue
            try:
                self.cdll = ctypes.CDLL(cand)
                self.path = cand
                break
            except OSError as e:
                errors.append(f"{cand}: {e}")
        if self.cdll is None:
            raise OSError("cannot load libfacematch (set FACEMATCH_LIB, or build it: cmake -B build && "
                          "cmake --build build): " + "; ".join(errors))
        self._funcs = {}
        self._lock = threading.Lock()

    def has(self, name):
        return hasattr(self.cdll, name)

    def fn(self, name):
        f = self._funcs.get(name)
        if f is not None:
            return f
        with self._lock:
            f = self._funcs.get(name)
            if f is not None:
                return f
            if name not in SIGNATURES:
                raise KeyError(f"{name} has no declared signature in facematch._native.SIGNATURES")
            try:
                f = getattr(self.cdll, name)
            except AttributeError:
                return None
            f.restype, f.argtypes = SIGNATURES[name][0], SIGNATURES[name][1]
            self._funcs[name] = f
            return f

    def declare_all(self):
        """Declares every known function now; returns the names the library does not export."""
        return [n for n in SIGNATURES if self.fn(n) is None]


_lib = None
_lib_lock = threading.Lock()


def lib():
    global _lib
    if _lib is None:
        with _lib_lock:
            if _lib is None:
                _lib = Library()
    return _lib
