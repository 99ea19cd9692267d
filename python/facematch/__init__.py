"""facematch — ctypes binding over libfacematch's public C API (facematch/include/facematch.h).

    import facematch as fm
    with fm.Context() as ctx:
        img, info = fm.decode(open("face.jp2", "rb").read(), ctx=ctx)
        print(info.format_name, img.width, img.height)
        pixels = img.to_numpy(fm.PixFmt.RGB24)      # (H, W, 3) uint8 copy

Errors: every failing C call raises a subclass of FacematchError (CorruptError, TruncatedError, LimitError, ...)
carrying .status (int), .name ("FM_ERR_CORRUPT") and .message (the fm_ctx message).

Threads: as in C, a Context belongs to one thread at a time; functions that take ctx=None make a private Context
for that call. An Image remembers the Context it was made with and uses it unless another is passed.
Library location: $FACEMATCH_LIB, else <source tree>/build/libfacematch.so, else the system's libfacematch.so.0.
"""

import ctypes
import enum
import os
from collections import namedtuple

from . import _native
from ._native import ImageInfo as _ImageInfo, ModelDesc as _ModelDesc, lib as _lib

__all__ = [
    "FacematchError", "Status", "Param", "PixFmt", "Format", "ResizeMode", "Context", "Image", "ImageInfo",
    "Model", "version", "status_name", "status_str", "sha256", "sha256_file", "wipe", "models", "models_default_dir",
    "verify_model_file", "verify_model_memory", "detect_format", "exif_orientation", "format_name", "pixfmt_name", "pixfmt_bpp",
    "probe", "decode", "load", "create", "wrap", "from_numpy", "library_path",
]


def library_path():
    """Path (or soname) of the loaded libfacematch."""
    return _lib().path


def _fn(name):
    f = _lib().fn(name)
    if f is None:
        raise UnsupportedError(Status.FM_ERR_UNSUPPORTED, f"libfacematch ({_lib().path}) does not export {name}")
    return f


def _typed_functions(signatures):
    """The `_fn(name)` of a submodule: the C function `name` typed from `signatures` ({name: (restype, argtypes)}),
    declared once and cached. Each table gets its own function objects (`cdll[name]` is a fresh pointer, unlike
    `cdll.name`), so two modules declaring the same function never overwrite each other's argtypes."""
    funcs = {}

    def fn(name):
        f = funcs.get(name)
        if f is None:
            lib = _lib()
            try:
                f = lib.cdll[name]
            except AttributeError:
                raise UnsupportedError(Status.FM_ERR_UNSUPPORTED,
                                       f"libfacematch ({lib.path}) does not export {name}") from None
            f.restype, f.argtypes = signatures[name]
            funcs[name] = f  # fully declared before it is shared
        return f

    return fn


def _s(b):
    return b.decode("utf-8", "replace") if b is not None else None


# ---- status codes and errors -------------------------------------------------------------------------------------

def _status_table():
    # the library is the source of truth: ask it for the name of every code in the enum's range
    f = _fn("fm_status_name")
    out = {}
    for code in range(0, 256):
        name = _s(f(code))
        if name != "FM_ERR_UNKNOWN":
            out[name] = code
    return out


Status = enum.IntEnum("Status", _status_table())
Status.__doc__ = "fm_status codes, as the loaded library names them (fm_status_name)."


class FacematchError(Exception):
    """A libfacematch call failed. .status (Status or int), .name ("FM_ERR_..."), .message (the ctx message)."""

    def __init__(self, status, message=""):
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status = status
        self.name = status_name(status)
        self.message = message
        super().__init__(f"{self.name}: {message}" if message else self.name)


def _errclass(clsname, doc):
    return type(clsname, (FacematchError,), {"__doc__": doc})


InvalidArgumentError = _errclass("InvalidArgumentError", "FM_ERR_INVALID_ARGUMENT")
NoMemoryError = _errclass("NoMemoryError", "FM_ERR_NO_MEMORY")
IOError_ = _errclass("IOError_", "FM_ERR_IO (named IOError_ to leave Python's IOError alone)")
LimitError = _errclass("LimitError", "FM_ERR_LIMIT")
BufferTooSmallError = _errclass("BufferTooSmallError", "FM_ERR_BUFFER_TOO_SMALL")
UnsupportedError = _errclass("UnsupportedError", "FM_ERR_UNSUPPORTED")
InternalError = _errclass("InternalError", "FM_ERR_INTERNAL")
StateError = _errclass("StateError", "FM_ERR_STATE")
FormatError = _errclass("FormatError", "FM_ERR_FORMAT")
CorruptError = _errclass("CorruptError", "FM_ERR_CORRUPT")
TruncatedError = _errclass("TruncatedError", "FM_ERR_TRUNCATED")
ModelError = _errclass("ModelError", "FM_ERR_MODEL_MISSING / FM_ERR_MODEL_INVALID")
ModelHashError = _errclass("ModelHashError", "FM_ERR_MODEL_HASH")
FaceError = _errclass("FaceError", "FM_ERR_NO_FACE / FM_ERR_MULTIPLE_FACES")
CardError = _errclass("CardError", "card and PIN errors (FM_ERR_CARD_*, FM_ERR_PIN_*, FM_ERR_NOT_FOUND)")
CryptoError = _errclass("CryptoError", "FM_ERR_CRYPTO / FM_ERR_VERIFY / FM_ERR_KEY")

_ERROR_CLASSES = {
    "FM_ERR_INVALID_ARGUMENT": InvalidArgumentError, "FM_ERR_NO_MEMORY": NoMemoryError, "FM_ERR_IO": IOError_,
    "FM_ERR_LIMIT": LimitError, "FM_ERR_BUFFER_TOO_SMALL": BufferTooSmallError,
    "FM_ERR_UNSUPPORTED": UnsupportedError, "FM_ERR_INTERNAL": InternalError, "FM_ERR_STATE": StateError,
    "FM_ERR_FORMAT": FormatError, "FM_ERR_CORRUPT": CorruptError, "FM_ERR_TRUNCATED": TruncatedError,
    "FM_ERR_MODEL_MISSING": ModelError, "FM_ERR_MODEL_INVALID": ModelError, "FM_ERR_MODEL_HASH": ModelHashError,
    "FM_ERR_NO_FACE": FaceError, "FM_ERR_MULTIPLE_FACES": FaceError,
    "FM_ERR_CRYPTO": CryptoError, "FM_ERR_VERIFY": CryptoError, "FM_ERR_KEY": CryptoError,
}
__all__ += sorted({c.__name__ for c in _ERROR_CLASSES.values()} | {"CardError"})


def error_class(status):
    """The FacematchError subclass raised for a status."""
    name = status_name(status)
    if name in _ERROR_CLASSES:
        return _ERROR_CLASSES[name]
    if name.startswith(("FM_ERR_CARD_", "FM_ERR_PIN_")) or name == "FM_ERR_NOT_FOUND":
        return CardError
    return FacematchError


def _raise(status, message):
    raise error_class(status)(status, message)


# ---- enums mirrored from facematch.h -------------------------------------------------------------------------------

class Param(enum.IntEnum):
    MAX_INPUT_BYTES = 1
    MAX_PIXELS = 2
    MAX_DIMENSION = 3
    THREADS = 4
    MAX_MODEL_BYTES = 5
    EXIF_ORIENTATION = 6  # 1 (default): decoding turns JPEGs upright by their EXIF Orientation; 0: as stored


class PixFmt(enum.IntEnum):
    NONE = 0
    GRAY8 = 1
    RGB24 = 2
    BGR24 = 3
    RGBA = 4
    BGRA = 5
    NV21 = 6
    NV12 = 7
    I420 = 8


class Format(enum.IntEnum):
    UNKNOWN = 0
    JPEG = 1
    JP2 = 2
    J2K = 3
    PNG = 4
    PNM = 5


class ResizeMode(enum.IntEnum):
    BILINEAR = 0
    AREA = 1


# ---- plain functions -----------------------------------------------------------------------------------------------

def version():
    return _s(_fn("fm_version")())


def status_name(status):
    return _s(_fn("fm_status_name")(int(status)))


def status_str(status):
    return _s(_fn("fm_status_str")(int(status)))


def format_name(fmt):
    return _s(_fn("fm_format_name")(int(fmt)))


def pixfmt_name(fmt):
    return _s(_fn("fm_pixfmt_name")(int(fmt)))


def pixfmt_bpp(fmt):
    return _fn("fm_pixfmt_bpp")(int(fmt))


def _buffer(data):
    """(pointer, length, keepalive) for bytes-like input, without copying bytes/bytearray/memoryview/numpy."""
    if isinstance(data, bytes):
        return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p), len(data), data
    mv = memoryview(data)
    if not mv.c_contiguous:
        raise ValueError("buffer must be C-contiguous")
    n = mv.nbytes
    if n == 0:
        return None, 0, data
    if mv.readonly:
        b = mv.tobytes()
        return ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p), n, b
    arr = (ctypes.c_char * n).from_buffer(mv.cast("B"))
    return ctypes.cast(arr, ctypes.c_void_p), n, (arr, mv)


def sha256(data):
    """SHA-256 of a bytes-like object, lowercase hex (computed by libfacematch)."""
    p, n, keep = _buffer(data)
    hexbuf = ctypes.create_string_buffer(65)
    _fn("fm_sha256")(p, n, None, hexbuf)
    del keep
    return _s(hexbuf.value)


def sha256_file(path, ctx=None):
    with _maybe_ctx(ctx) as c:
        hexbuf = ctypes.create_string_buffer(65)
        c._check(_fn("fm_sha256_file")(c._h, os.fsencode(path), None, hexbuf))
        return _s(hexbuf.value)


def wipe(buf):
    """Overwrites a writable buffer (bytearray, numpy array) in place with libfacematch's fm_wipe."""
    mv = memoryview(buf)
    if mv.readonly:
        raise TypeError("wipe needs a writable buffer")
    n = mv.nbytes
    if n:
        arr = (ctypes.c_char * n).from_buffer(mv.cast("B"))
        _fn("fm_wipe")(ctypes.cast(arr, ctypes.c_void_p), n)


# ---- owned handles -------------------------------------------------------------------------------------------------

class _Handle:
    """A C handle this object owns: close() (or `with`, or garbage collection) calls the C destroy function once."""

    _destroy = None  # name of the fm_*_destroy function
    _what = "handle"
    _lookup = staticmethod(_fn)  # the module's typed-function table that declares _destroy

    def close(self):
        h = getattr(self, "_h", None)
        if h:
            self._lookup(self._destroy)(h)
            self._h = None
            self._closed()

    def _closed(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def handle(self):
        if not getattr(self, "_h", None):
            raise StateError(Status.FM_ERR_STATE, "%s is closed" % self._what)
        return self._h


# ---- context -------------------------------------------------------------------------------------------------------

class Context(_Handle):
    """An fm_ctx: settings, limits and the last error. Use from one thread at a time; close() or `with`."""

    _destroy = "fm_ctx_destroy"
    _what = "context"

    def __init__(self, **limits):
        self._h = _fn("fm_ctx_create")()
        if not self._h:
            raise NoMemoryError(Status.FM_ERR_NO_MEMORY, "fm_ctx_create failed")
        for k, v in limits.items():
            self.set(Param[k.upper()], v)

    def _check(self, status):
        if status != 0:
            _raise(status, self.errmsg)

    @property
    def errmsg(self):
        return _s(_fn("fm_ctx_errmsg")(self.handle))

    @property
    def errcode(self):
        return _fn("fm_ctx_errcode")(self.handle)

    def clear_error(self):
        _fn("fm_ctx_clear_error")(self.handle)

    def set(self, param, value):
        self._check(_fn("fm_ctx_set")(self.handle, int(param), int(value)))

    def get(self, param):
        return _fn("fm_ctx_get")(self.handle, int(param))


class _maybe_ctx:
    """`with _maybe_ctx(ctx) as c`: the given Context, or a private one closed afterwards."""

    def __init__(self, ctx):
        self.given = ctx

    def __enter__(self):
        self.c = self.given if self.given is not None else Context()
        return self.c

    def __exit__(self, *exc):
        if self.given is None:
            self.c.close()


# ---- models --------------------------------------------------------------------------------------------------------

Model = namedtuple("Model", "id name file sha256 package licence")


def models():
    """The library's model table (generated from models/manifest at build time), in fm_model_id order."""
    out = []
    f = _fn("fm_model_describe")
    for i in range(0, 1024):
        d = _ModelDesc()
        if f(i, ctypes.byref(d)) != 0:
            break
        out.append(Model(i, _s(d.name), _s(d.file), _s(d.sha256), _s(d.package), _s(d.licence)))
    return out


def models_default_dir():
    buf = ctypes.create_string_buffer(4096)
    st = _fn("fm_models_default_dir")(buf, len(buf))
    if st != 0:
        _raise(st, "fm_models_default_dir failed")
    return os.fsdecode(buf.value)


def _model_id(model):
    if isinstance(model, str):
        for m in models():
            if m.name == model:
                return m.id
        raise InvalidArgumentError(Status.FM_ERR_INVALID_ARGUMENT, f"unknown model {model!r}")
    return int(model)


def verify_model_file(model, path, ctx=None):
    """Checks the file's SHA-256 against the manifest (model = id or name); raises ModelHashError / IOError_."""
    with _maybe_ctx(ctx) as c:
        c._check(_fn("fm_model_verify_file")(c.handle, _model_id(model), os.fsencode(path)))


def verify_model_memory(model, data, ctx=None):
    with _maybe_ctx(ctx) as c:
        p, n, keep = _buffer(data)
        c._check(_fn("fm_model_verify_memory")(c.handle, _model_id(model), p, n))
        del keep


# ---- images --------------------------------------------------------------------------------------------------------

class ImageInfo(namedtuple("ImageInfo", "format width height channels bit_depth")):
    """What fm_image_probe reports; format is a Format."""

    @property
    def format_name(self):
        return format_name(self.format)


def _info(ci):
    try:
        fmt = Format(ci.format)
    except ValueError:
        fmt = ci.format
    return ImageInfo(fmt, ci.width, ci.height, ci.channels, ci.bit_depth)


def detect_format(data):
    p, n, keep = _buffer(data)
    r = _fn("fm_image_detect_format")(p, n)
    del keep
    try:
        return Format(r)
    except ValueError:
        return r


def exif_orientation(data):
    """A JPEG's EXIF Orientation: 1..8 (1 also when there is none), 0 when not a JPEG or the Exif segment is
    malformed (fm_image_exif_orientation)."""
    p, n, keep = _buffer(data)
    r = _fn("fm_image_exif_orientation")(p, n)
    del keep
    return r


def probe(data, ctx=None):
    with _maybe_ctx(ctx) as c:
        p, n, keep = _buffer(data)
        ci = _ImageInfo()
        c._check(_fn("fm_image_probe")(c.handle, p, n, ctypes.byref(ci)))
        del keep
        return _info(ci)


def decode(data, want=PixFmt.NONE, ctx=None):
    """Decodes encoded bytes; returns (Image, ImageInfo). The Image uses ctx (or a Context of its own)."""
    c = ctx if ctx is not None else Context()
    p, n, keep = _buffer(data)
    out = ctypes.c_void_p()
    ci = _ImageInfo()
    c._check(_fn("fm_image_decode")(c.handle, p, n, int(want), ctypes.byref(out), ctypes.byref(ci)))
    del keep
    return Image(out, c), _info(ci)


def load(path, want=PixFmt.NONE, ctx=None):
    c = ctx if ctx is not None else Context()
    out = ctypes.c_void_p()
    ci = _ImageInfo()
    c._check(_fn("fm_image_load")(c.handle, os.fsencode(path), int(want), ctypes.byref(out), ctypes.byref(ci)))
    return Image(out, c), _info(ci)


def create(fmt, width, height, ctx=None):
    c = ctx if ctx is not None else Context()
    out = ctypes.c_void_p()
    c._check(_fn("fm_image_create")(c.handle, int(fmt), int(width), int(height), ctypes.byref(out)))
    return Image(out, c)


def _plane_ptr(obj):
    """(address, row stride or None, keepalive) of a camera plane: numpy array, bytearray, bytes or memoryview."""
    np = _numpy()
    if np is not None and isinstance(obj, np.ndarray):
        if obj.dtype != np.uint8:
            raise TypeError("planes must be uint8 arrays")
        if obj.ndim not in (1, 2, 3):
            raise ValueError("a plane is a 1-, 2- or 3-dimensional uint8 array")
        if obj.ndim >= 2:
            inner = obj[0]
            if not inner.flags.c_contiguous:
                raise ValueError("each row of a plane must be contiguous (only the row stride may differ)")
            if obj.strides[0] <= 0:
                raise ValueError("negative or zero row strides are not supported")
        elif not obj.flags.c_contiguous:
            raise ValueError("a 1-D plane must be contiguous")
        return obj.ctypes.data, (obj.strides[0] if obj.ndim >= 2 else None), obj
    p, n, keep = _buffer(obj)
    return (p.value if p is not None else 0), None, keep


def wrap(fmt, width, height, planes, strides=None, rotation=0, ctx=None):
    """Wraps camera memory without copying (fm_image_wrap). planes: one buffer per plane (numpy uint8 arrays,
    bytearray or bytes); strides: bytes per row per plane (default: a 2-D/3-D numpy array's row stride, else the
    packed row width). The Image keeps references to the planes, so they stay alive while it exists; the caller
    must not change them meanwhile."""
    fmt = PixFmt(fmt)
    if not isinstance(planes, (list, tuple)):
        planes = [planes]
    nplanes = {PixFmt.NV12: 2, PixFmt.NV21: 2, PixFmt.I420: 3}.get(fmt, 1)
    if len(planes) != nplanes:
        raise ValueError(f"{fmt.name} needs {nplanes} plane(s), got {len(planes)}")
    ptrs, auto, keep = [], [], []
    for pl in planes:
        a, s, k = _plane_ptr(pl)
        ptrs.append(a)
        auto.append(s)
        keep.append(k)
    if strides is None:
        bpp = pixfmt_bpp(fmt)
        defaults = [width * bpp] if bpp else ([width, width] if nplanes == 2 else [width, (width + 1) // 2,
                                                                                    (width + 1) // 2])
        strides = [a if a is not None else d for a, d in zip(auto, defaults)]
    if len(strides) != nplanes:
        raise ValueError(f"{fmt.name} needs {nplanes} stride(s)")
    parr = (ctypes.c_void_p * 3)(*(ptrs + [None] * (3 - nplanes)))
    sarr = (ctypes.c_int * 3)(*(list(strides) + [0] * (3 - nplanes)))
    c = ctx if ctx is not None else Context()
    out = ctypes.c_void_p()
    c._check(_fn("fm_image_wrap")(c.handle, int(fmt), int(width), int(height), parr, sarr, int(rotation),
                                  ctypes.byref(out)))
    return Image(out, c, keep=keep)


def from_numpy(arr, fmt=None, rotation=0, ctx=None):
    """Wraps an (H, W), (H, W, 3) or (H, W, 4) uint8 array (default formats GRAY8, RGB24, RGBA)."""
    np = _numpy()
    arr = np.asarray(arr)
    if fmt is None:
        fmt = {2: PixFmt.GRAY8}.get(arr.ndim) or {3: PixFmt.RGB24, 4: PixFmt.RGBA, 1: PixFmt.GRAY8}[arr.shape[2]]
    h, w = arr.shape[0], arr.shape[1]
    return wrap(fmt, w, h, [arr], rotation=rotation, ctx=ctx)


def _numpy():
    try:
        import numpy
        return numpy
    except ImportError:
        return None


class Image(_Handle):
    """An fm_image handle (owned, or wrapping caller memory). Destroyed by close(), `with`, or garbage collection."""

    _destroy = "fm_image_destroy"
    _what = "image"

    def __init__(self, handle, ctx, keep=None):
        self._h = handle.value if isinstance(handle, ctypes.c_void_p) else handle
        self._ctx = ctx
        self._keep = keep

    def _closed(self):
        self._keep = None

    def _c(self, ctx):
        return ctx if ctx is not None else self._ctx

    @property
    def width(self):
        return _fn("fm_image_width")(self.handle)

    @property
    def height(self):
        return _fn("fm_image_height")(self.handle)

    @property
    def pixfmt(self):
        return PixFmt(_fn("fm_image_pixfmt")(self.handle))

    @property
    def rotation(self):
        return _fn("fm_image_rotation")(self.handle)

    def plane(self, i):
        """(address, stride) of stored plane i, or (None, 0) if there is no such plane. Borrowed."""
        stride = ctypes.c_int(0)
        p = _fn("fm_image_plane")(self.handle, int(i), ctypes.byref(stride))
        return p, stride.value

    def __repr__(self):
        if not self._h:
            return "<facematch.Image closed>"
        return f"<facematch.Image {self.width}x{self.height} {self.pixfmt.name} rotation={self.rotation}>"

    def convert(self, fmt, ctx=None):
        c = self._c(ctx)
        out = ctypes.c_void_p()
        c._check(_fn("fm_image_convert")(c.handle, self.handle, int(fmt), ctypes.byref(out)))
        return Image(out, c)

    def resize(self, width, height, mode=ResizeMode.BILINEAR, ctx=None):
        c = self._c(ctx)
        out = ctypes.c_void_p()
        c._check(_fn("fm_image_resize")(c.handle, self.handle, int(width), int(height), int(mode),
                                        ctypes.byref(out)))
        return Image(out, c)

    def crop(self, x, y, width, height, ctx=None):
        c = self._c(ctx)
        out = ctypes.c_void_p()
        c._check(_fn("fm_image_crop")(c.handle, self.handle, int(x), int(y), int(width), int(height),
                                      ctypes.byref(out)))
        return Image(out, c)

    def warp_affine(self, m, width, height, ctx=None):
        """m: 6 numbers mapping destination (x, y) to source coordinates (see fm_image_warp_affine)."""
        m = [float(v) for v in (m.ravel() if hasattr(m, "ravel") else m)]
        if len(m) != 6:
            raise ValueError("m needs 6 numbers")
        c = self._c(ctx)
        out = ctypes.c_void_p()
        c._check(_fn("fm_image_warp_affine")(c.handle, self.handle, (ctypes.c_double * 6)(*m), int(width),
                                             int(height), ctypes.byref(out)))
        return Image(out, c)

    def encode(self, fmt, quality=0, ctx=None):
        """Encoded bytes (Format.PNG, PNM, JPEG (quality 1..100), JP2/J2K (quality = ratio, 0 lossless))."""
        c = self._c(ctx)
        f = _fn("fm_image_encode")
        need = ctypes.c_size_t(0)
        st = f(c.handle, self.handle, int(fmt), int(quality), None, 0, ctypes.byref(need))
        if st == 0 and need.value == 0:
            return b""
        if st != 0 and status_name(st) != "FM_ERR_BUFFER_TOO_SMALL":
            c._check(st)
        for _ in range(3):
            buf = ctypes.create_string_buffer(max(need.value, 1))
            got = ctypes.c_size_t(0)
            st = f(c.handle, self.handle, int(fmt), int(quality), buf, len(buf), ctypes.byref(got))
            if st == 0:
                return buf.raw[:got.value]
            if status_name(st) != "FM_ERR_BUFFER_TOO_SMALL" or got.value <= need.value:
                c._check(st)
            need = got
        c._check(st)

    def to_bytes(self, fmt=None, stride=0, ctx=None):
        """Upright pixels converted to packed fmt (default: the image's own packed format, else RGB24)."""
        fmt, bpp = self._packed(fmt)
        row = self.width * bpp
        stride = stride or row
        size = stride * (self.height - 1) + row if self.height else 0
        buf = ctypes.create_string_buffer(max(size, 1))
        c = self._c(ctx)
        c._check(_fn("fm_image_copy_to")(c.handle, self.handle, int(fmt), buf, size, int(stride)))
        return buf.raw[:size]

    def copy_to(self, buf, fmt, stride=0, ctx=None):
        """fm_image_copy_to into a caller-owned writable buffer; raises BufferTooSmallError if it is too small."""
        mv = memoryview(buf)
        if mv.readonly:
            raise TypeError("copy_to needs a writable buffer")
        n = mv.nbytes
        arr = (ctypes.c_char * max(n, 1)).from_buffer(mv.cast("B")) if n else None
        c = self._c(ctx)
        c._check(_fn("fm_image_copy_to")(c.handle, self.handle, int(fmt),
                                         ctypes.cast(arr, ctypes.c_void_p) if arr is not None else None, n,
                                         int(stride)))

    def to_numpy(self, fmt=None, ctx=None):
        """A (H, W) (GRAY8) or (H, W, C) uint8 numpy copy of the upright image in packed format fmt."""
        np = _numpy()
        fmt, bpp = self._packed(fmt)
        out = np.empty((self.height, self.width, bpp), dtype=np.uint8)
        self.copy_to(out, fmt, 0, ctx)
        return out[:, :, 0] if bpp == 1 else out

    def _packed(self, fmt):
        if fmt is None:
            fmt = self.pixfmt
            if pixfmt_bpp(fmt) == 0:
                fmt = PixFmt.RGB24
        fmt = PixFmt(fmt)
        bpp = pixfmt_bpp(fmt)
        if bpp <= 0:
            raise InvalidArgumentError(Status.FM_ERR_INVALID_ARGUMENT, f"{fmt.name} is not a packed format")
        return fmt, bpp


# ---- submodules: face pipeline and live sessions (facematch.face, facematch.session) ------------------------------
from . import face, session  # noqa: E402  (after everything they import from this module)
from .face import Engine  # noqa: E402
from .session import Policy, Session  # noqa: E402

__all__ += ["face", "session", "Engine", "Policy", "Session"]
