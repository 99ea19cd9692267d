"""The face pipeline (issue 3, facematch.h [issue 3]) through libfacematch: engine, detection, landmarks, alignment,
embeddings and comparison.

    import facematch as fm
    from facematch import face
    with face.Engine() as eng:                          # default models from fm.models_default_dir()
        a, _ = fm.load("a.jpg", fm.PixFmt.RGB24)
        b, _ = fm.load("b.jpg", fm.PixFmt.RGB24)
        da = eng.embed_face(a, eng.largest_face(a, detector="photo"))
        db = eng.embed_face(b, eng.largest_face(b, detector="photo"))
        r = face.compare(da, db)                        # CompareResult(distance, similarity, threshold, match)
        fm.wipe(da); fm.wipe(db)                        # descriptors are biometric templates

Threads: an Engine is immutable once created and may be shared by any number of threads (each thread passing its
own Context, or none: every call given ctx=None makes a private Context for that call); close it only after every
thread has stopped using it (and after every Session that uses it is closed). A Context, as everywhere, belongs to one
thread at a time. Images may be an Image or a uint8 numpy array ((H, W) grey, (H, W, 3) RGB, (H, W, 4) RGBA;
pass a wrapped Image for BGR or camera formats).

Boxes are dlib-style: left/top/right/bottom are the first and LAST pixel inside the box (inclusive). fm_detect gives
boxes and scores only; landmarks are a separate call (Engine.landmarks, 5 or 68 points).
"""

import ctypes
import enum
import os
from collections import namedtuple

from . import (Context, Image, InvalidArgumentError, Status, _Handle, _maybe_ctx, _model_id, _typed_functions, from_numpy,
               models as _models)

_ctx = ctypes.c_void_p
_eng = ctypes.c_void_p
_img = ctypes.c_void_p
_st = ctypes.c_int

MODEL_COUNT = 12          # FM_MODEL_COUNT (the size of fm_engine_config's per-model arrays)
DESCRIPTOR_MAX = 512      # FM_DESCRIPTOR_MAX
DETECT_MAX_REFINE = 3     # FM_DETECT_MAX_REFINE


class Detector(enum.IntEnum):
    """fm_detector"""
    FAST = 0
    MMOD = 1
    AUTO = 2
    HOG = 3
    PHOTO = 4


class Embedder(enum.IntEnum):
    """fm_embedder"""
    DLIB = 0    # dlib ResNet: 150x150 chip -> 128 floats, Euclidean distance
    FR512 = 1   # faceplugin fr_feature.onnx: 112x112 aligned -> 512 floats, distance = 1 - cosine


class _Config(ctypes.Structure):
    """struct fm_engine_config"""
    _fields_ = [("models_dir", ctypes.c_char_p), ("models", ctypes.c_uint32),
                ("paths", ctypes.c_char_p * MODEL_COUNT), ("buffers", ctypes.c_void_p * MODEL_COUNT),
                ("sizes", ctypes.c_size_t * MODEL_COUNT), ("verify_sha256", ctypes.c_int),
                ("optional_missing", ctypes.c_int)]


class _Box(ctypes.Structure):
    """struct fm_face_box"""
    _fields_ = [("left", ctypes.c_float), ("top", ctypes.c_float), ("right", ctypes.c_float),
                ("bottom", ctypes.c_float), ("score", ctypes.c_float)]


class _DetectOptions(ctypes.Structure):
    """struct fm_detect_options"""
    _fields_ = [("detector", ctypes.c_int), ("min_score", ctypes.c_float), ("nms_iou", ctypes.c_float),
                ("min_size", ctypes.c_int), ("upsample", ctypes.c_int), ("refine", ctypes.c_int)]


class _Point(ctypes.Structure):
    """struct fm_point"""
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float)]


class _CompareResult(ctypes.Structure):
    """struct fm_compare_result"""
    _fields_ = [("distance", ctypes.c_double), ("similarity", ctypes.c_double), ("threshold", ctypes.c_double),
                ("match", ctypes.c_int)]


_fp = ctypes.POINTER(ctypes.c_float)
_SIGS = {
    "fm_engine_config_init": (None, [ctypes.POINTER(_Config)]),
    "fm_engine_create": (_st, [_ctx, ctypes.POINTER(_Config), ctypes.POINTER(_eng)]),
    "fm_engine_destroy": (None, [_eng]),
    "fm_engine_has_model": (ctypes.c_int, [_eng, ctypes.c_int]),
    "fm_detect_options_init": (None, [ctypes.POINTER(_DetectOptions)]),
    "fm_detect": (_st, [_ctx, _eng, _img, ctypes.POINTER(_DetectOptions), ctypes.POINTER(_Box), ctypes.c_size_t,
                        ctypes.POINTER(ctypes.c_size_t)]),
    "fm_landmarks": (_st, [_ctx, _eng, _img, ctypes.POINTER(_Box), ctypes.c_int, ctypes.POINTER(_Point)]),
    "fm_face_chip": (_st, [_ctx, _img, ctypes.POINTER(_Point), ctypes.c_int, ctypes.c_int, ctypes.c_double,
                           ctypes.POINTER(_img)]),
    "fm_face_align112": (_st, [_ctx, _img, ctypes.POINTER(_Point), ctypes.POINTER(_img)]),
    "fm_landmarks68_to_five": (None, [ctypes.POINTER(_Point), ctypes.POINTER(_Point)]),
    "fm_embedder_dim": (ctypes.c_int, [ctypes.c_int]),
    "fm_embed_chip": (_st, [_ctx, _eng, ctypes.c_int, _img, _fp, ctypes.c_size_t]),
    "fm_embed_face": (_st, [_ctx, _eng, ctypes.c_int, _img, ctypes.POINTER(_Box), _fp, ctypes.c_size_t]),
    "fm_default_threshold": (ctypes.c_double, [ctypes.c_int]),
    "fm_compare": (_st, [_ctx, ctypes.c_int, _fp, _fp, ctypes.c_size_t, ctypes.c_double,
                         ctypes.POINTER(_CompareResult)]),
    "fm_wipe": (None, [ctypes.c_void_p, ctypes.c_size_t]),
}
_fn = _typed_functions(_SIGS)


# ---- plain values ------------------------------------------------------------------------------------------------

class FaceBox(namedtuple("FaceBox", "left top right bottom score")):
    """A detected face: inclusive dlib-style box in upright image pixels (may extend past the edges) and the
    detector's score (fast: probability 0..1; MMOD/HOG: raw score)."""

    @property
    def width(self):
        return self.right - self.left + 1

    @property
    def height(self):
        return self.bottom - self.top + 1


Point = namedtuple("Point", "x y")
CompareResult = namedtuple("CompareResult", "distance similarity threshold match")
CompareResult.__doc__ = ("fm_compare_result: distance (DLIB: Euclidean; FR512: 1 - cosine), similarity (0..1, "
                         "0.5 at the threshold), the threshold used, match (distance < threshold).")


def _enum(cls, v):
    if isinstance(v, str):
        try:
            return cls[v.upper()]
        except KeyError:
            raise InvalidArgumentError(Status.FM_ERR_INVALID_ARGUMENT,
                                       f"unknown {cls.__name__.lower()} {v!r} (one of "
                                       f"{', '.join(m.name.lower() for m in cls)})") from None
    return cls(v)


def _cbox(box):
    if isinstance(box, _Box):
        return box
    try:
        v = [float(x) for x in box]
    except (TypeError, ValueError):
        raise TypeError("box must be a FaceBox or (left, top, right, bottom[, score])") from None
    if len(v) not in (4, 5):
        raise TypeError("box must be a FaceBox or (left, top, right, bottom[, score])")
    return _Box(v[0], v[1], v[2], v[3], v[4] if len(v) == 5 else 0.0)


def _pybox(c):
    return FaceBox(c.left, c.top, c.right, c.bottom, c.score)


def _cpoints(points, n=None):
    pts = [(float(p[0]), float(p[1])) for p in points]
    if n is not None and len(pts) != n:
        raise ValueError(f"{n} points expected, got {len(pts)}")
    return (_Point * len(pts))(*[_Point(x, y) for x, y in pts])


class _image:
    """`with _image(img, ctx) as i`: an Image as is, or a uint8 numpy array wrapped (closed afterwards)."""

    def __init__(self, img, ctx, fmt=None, rotation=0):
        self.img, self.ctx, self.fmt, self.rotation, self.own = img, ctx, fmt, rotation, None

    def __enter__(self):
        if isinstance(self.img, Image):
            return self.img
        if hasattr(self.img, "__array_interface__"):
            self.own = from_numpy(self.img, fmt=self.fmt, rotation=self.rotation, ctx=self.ctx)
            return self.own
        raise TypeError(f"expected a facematch.Image or a uint8 numpy array, got {type(self.img).__name__}")

    def __exit__(self, *exc):
        if self.own is not None:
            self.own._ctx = None
            self.own.close()


def _numpy():
    try:
        import numpy
        return numpy
    except ImportError:
        return None


def _wipe_c(arr):
    _fn("fm_wipe")(ctypes.cast(arr, ctypes.c_void_p), ctypes.sizeof(arr))


def _descriptor_out(buf, n):
    """A numpy float32 copy (a list when numpy is absent) of the first n floats of buf; buf is wiped."""
    np = _numpy()
    try:
        if np is not None:
            out = np.empty(n, dtype=np.float32)
            ctypes.memmove(out.ctypes.data, buf, n * 4)
        else:
            out = [float(buf[i]) for i in range(n)]
    finally:
        _wipe_c(buf)
    return out


def _descriptor_in(d):
    """A ctypes float array holding the descriptor d (numpy array, list, ...) — wipe it after use."""
    np = _numpy()
    if np is not None and isinstance(d, np.ndarray):
        a = np.ascontiguousarray(d, dtype=np.float32).ravel()
        buf = (ctypes.c_float * max(a.size, 1))()
        ctypes.memmove(buf, a.ctypes.data, a.size * 4)
        if not np.shares_memory(a, d):
            a.fill(0)  # our own converted copy (never the caller's array): do not leave it behind either
        return buf, a.size
    vals = [float(v) for v in d]
    buf = (ctypes.c_float * max(len(vals), 1))(*vals)
    return buf, len(vals)


# ---- module functions ------------------------------------------------------------------------------------------

def embedder_dim(embedder=Embedder.DLIB):
    """Descriptor length of an embedder: 128 (DLIB) or 512 (FR512)."""
    return _fn("fm_embedder_dim")(int(_enum(Embedder, embedder)))


def default_threshold(embedder=Embedder.DLIB):
    """The embedder's default decision threshold (DLIB 0.6)."""
    return _fn("fm_default_threshold")(int(_enum(Embedder, embedder)))


def compare(a, b, threshold=None, embedder=None, ctx=None):
    """Compares two descriptors of the same embedder (fm_compare). embedder None: DLIB for 128 values, FR512 for
    512. threshold None: the embedder's default. Raises InvalidArgumentError for a wrong length or non-finite
    values. Returns CompareResult(distance, similarity, threshold, match)."""
    ba, na = _descriptor_in(a)
    bb, nb = _descriptor_in(b)
    try:
        if embedder is None:
            embedder = {128: Embedder.DLIB, 512: Embedder.FR512}.get(na, Embedder.DLIB)
        emb = _enum(Embedder, embedder)
        if na != nb:
            raise InvalidArgumentError(Status.FM_ERR_INVALID_ARGUMENT,
                                       f"descriptors differ in length ({na} and {nb})")
        t = 0.0 if threshold is None else float(threshold)
        if threshold is not None and not t > 0:
            raise InvalidArgumentError(Status.FM_ERR_INVALID_ARGUMENT, f"threshold must be > 0 (got {threshold})")
        r = _CompareResult()
        with _maybe_ctx(ctx) as c:
            c._check(_fn("fm_compare")(c.handle, int(emb), ba, bb, na, t, ctypes.byref(r)))
        return CompareResult(r.distance, r.similarity, r.threshold, bool(r.match))
    finally:
        _wipe_c(ba)
        _wipe_c(bb)


def landmarks68_to_five(pts68):
    """The five ArcFace template points (eye centres, nose tip, mouth corners) from 68 iBUG landmarks."""
    src = _cpoints(pts68, 68)
    out = (_Point * 5)()
    _fn("fm_landmarks68_to_five")(src, out)
    return [Point(p.x, p.y) for p in out]


def face_chip(img, points, size=150, padding=0.25, ctx=None):
    """dlib's face chip (get_face_chip_details + extract_image_chip) from 5 or 68 landmarks: a new RGB24 Image
    size x size. The recogniser uses size 150, padding 0.25."""
    pts = _cpoints(points)
    if len(pts) not in (5, 68):
        raise InvalidArgumentError(Status.FM_ERR_INVALID_ARGUMENT, f"5 or 68 points expected, got {len(pts)}")
    c = ctx if ctx is not None else Context()
    with _image(img, c) as im:
        out = ctypes.c_void_p()
        c._check(_fn("fm_face_chip")(c.handle, im.handle, pts, len(pts), int(size), float(padding),
                                     ctypes.byref(out)))
    return Image(out, c)


def align112(img, five, ctx=None):
    """The standard 112x112 five-point (ArcFace template) alignment: a new RGB24 Image. five: left eye centre,
    right eye centre, nose tip, left and right mouth corner (as seen in the image)."""
    pts = _cpoints(five, 5)
    c = ctx if ctx is not None else Context()
    with _image(img, c) as im:
        out = ctypes.c_void_p()
        c._check(_fn("fm_face_align112")(c.handle, im.handle, pts, ctypes.byref(out)))
    return Image(out, c)


# ---- engine ------------------------------------------------------------------------------------------------------

def _model_bits(models):
    if models is None:
        return 0
    if isinstance(models, int):
        return models
    bits = 0
    for m in models:
        bits |= 1 << _model_id(m)
    return bits


class Engine(_Handle):
    """fm_engine: models loaded once (fm_engine_create), then immutable.

    THREADS: an Engine may be shared by any number of threads at once (every method takes its own ctx=, or makes a
    private Context per call); close it only after all threads and every Session using it are done.

    Engine(models_dir=None, models=None, paths=None, buffers=None, verify_sha256=True, optional_missing=False,
           ctx=None)
      models_dir       directory of the model files (None: fm_models_default_dir())
      models           which models to load: an iterable of model ids or manifest names (facematch.models()), or
                       an int of FM_ENGINE_MODEL_BIT bits; None = the library's default set (dlib ResNet, 5-point
                       predictor, MMOD, fast detector)
      paths            {model: file path} overriding models_dir/<file>
      buffers          {model: bytes} model files held in memory (only read during creation)
      verify_sha256    reject a file whose SHA-256 is not the manifest's (ModelHashError)
      optional_missing skip requested models whose file is absent (calls needing them raise ModelError)
    Errors: ModelError (missing/invalid model file), ModelHashError, LimitError (file above MAX_MODEL_BYTES).
    """

    _destroy = "fm_engine_destroy"
    _what = "engine"
    _lookup = staticmethod(_fn)

    def __init__(self, models_dir=None, models=None, paths=None, buffers=None, verify_sha256=True,
                 optional_missing=False, ctx=None):
        cfg = _Config()
        _fn("fm_engine_config_init")(ctypes.byref(cfg))
        keep = []
        if models_dir is not None:
            cfg.models_dir = _fsencode(models_dir)
        cfg.models = _model_bits(models)
        for m, p in (paths or {}).items():
            i = self._slot(m)
            cfg.paths[i] = _fsencode(p)
        for m, data in (buffers or {}).items():
            i = self._slot(m)
            b = bytes(data)
            keep.append(b)
            cfg.buffers[i] = ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p)
            cfg.sizes[i] = len(b)
        cfg.verify_sha256 = 1 if verify_sha256 else 0
        cfg.optional_missing = 1 if optional_missing else 0
        self.models_dir = models_dir
        with _maybe_ctx(ctx) as c:
            h = _eng()
            c._check(_fn("fm_engine_create")(c.handle, ctypes.byref(cfg), ctypes.byref(h)))
            self._h = h.value
        del keep

    @staticmethod
    def _slot(m):
        i = _model_id(m)
        if not 0 <= i < MODEL_COUNT:
            raise InvalidArgumentError(Status.FM_ERR_INVALID_ARGUMENT, f"model id {i} out of range")
        return i

    def __repr__(self):
        if not self._h:
            return "<facematch.face.Engine closed>"
        return f"<facematch.face.Engine models={self.loaded_models()}>"

    def has_model(self, model):
        """True if the engine holds the model (id or manifest name)."""
        return bool(_fn("fm_engine_has_model")(self.handle, _model_id(model)))

    def loaded_models(self):
        """Names of the models the engine holds."""
        return [m.name for m in _models() if m.id < MODEL_COUNT and self.has_model(m.id)]

    # ---- detection

    def detect(self, img, detector=Detector.FAST, min_score=None, nms_iou=None, min_size=None, upsample=None,
               refine=None, max_faces=None, ctx=None):
        """Every face in img (fm_detect), best score first, as FaceBox tuples; [] when there is none.
        detector: Detector or "fast" | "mmod" | "auto" | "hog" | "photo" (still photos: "photo"; camera frames:
        "fast"). Options left None keep the library's defaults (fm_detect_options_init). max_faces: return at
        most this many (all found by default). Raises ModelError when the detector's model is not loaded."""
        opt = _DetectOptions()
        _fn("fm_detect_options_init")(ctypes.byref(opt))
        opt.detector = int(_enum(Detector, detector))
        if min_score is not None:
            opt.min_score = float(min_score)
        if nms_iou is not None:
            opt.nms_iou = float(nms_iou)
        if min_size is not None:
            opt.min_size = int(min_size)
        if upsample is not None:
            opt.upsample = int(upsample)
        if refine is not None:
            opt.refine = int(refine)
        h = self.handle
        with _maybe_ctx(ctx) as c, _image(img, c) as im:
            cap = 16 if max_faces is None else max(int(max_faces), 0)
            while True:
                buf = (_Box * max(cap, 1))()
                n = ctypes.c_size_t(0)
                c._check(_fn("fm_detect")(c.handle, h, im.handle, ctypes.byref(opt), buf if cap else None, cap,
                                          ctypes.byref(n)))
                if n.value <= cap or max_faces is not None:
                    return [_pybox(buf[i]) for i in range(min(n.value, cap))]
                cap = n.value

    def largest_face(self, img, detector=Detector.FAST, ctx=None, **options):
        """The largest detected face (what `facematch compare`/`embed` use), or None when there is none."""
        faces = self.detect(img, detector=detector, ctx=ctx, **options)
        if not faces:
            return None
        return max(faces, key=lambda f: (f.right - f.left + 1) * (f.bottom - f.top + 1))

    # ---- landmarks and alignment

    def landmarks(self, img, box, npoints=5, ctx=None):
        """dlib shape predictor points inside box: 5 (needs dlib_sp5; eye corners then the nose base, dlib's
        order) or 68 (needs dlib_sp68, iBUG 300-W order). A list of Point(x, y)."""
        if npoints not in (5, 68):
            raise InvalidArgumentError(Status.FM_ERR_INVALID_ARGUMENT, f"npoints must be 5 or 68, not {npoints}")
        b = _cbox(box)
        pts = (_Point * npoints)()
        h = self.handle
        with _maybe_ctx(ctx) as c, _image(img, c) as im:
            c._check(_fn("fm_landmarks")(c.handle, h, im.handle, ctypes.byref(b), int(npoints), pts))
        return [Point(p.x, p.y) for p in pts]

    # ---- embeddings

    def embed_chip(self, chip, embedder=Embedder.DLIB, ctx=None):
        """Descriptor of an aligned chip (150x150 for DLIB, 112x112 for FR512): numpy float32 array (a list
        without numpy). The C buffer is wiped; wipe the result (facematch.wipe) when done with it."""
        emb = _enum(Embedder, embedder)
        n = embedder_dim(emb)
        buf = (ctypes.c_float * DESCRIPTOR_MAX)()
        h = self.handle
        try:
            with _maybe_ctx(ctx) as c, _image(chip, c) as im:
                c._check(_fn("fm_embed_chip")(c.handle, h, int(emb), im.handle, buf, DESCRIPTOR_MAX))
        except BaseException:
            _wipe_c(buf)
            raise
        return _descriptor_out(buf, n)

    def embed_face(self, img, box, embedder=Embedder.DLIB, ctx=None):
        """Landmarks, alignment and descriptor of one detected face (fm_embed_face). Returns as embed_chip."""
        emb = _enum(Embedder, embedder)
        n = embedder_dim(emb)
        b = _cbox(box)
        buf = (ctypes.c_float * DESCRIPTOR_MAX)()
        h = self.handle
        try:
            with _maybe_ctx(ctx) as c, _image(img, c) as im:
                c._check(_fn("fm_embed_face")(c.handle, h, int(emb), im.handle, ctypes.byref(b), buf,
                                              DESCRIPTOR_MAX))
        except BaseException:
            _wipe_c(buf)
            raise
        return _descriptor_out(buf, n)

    def compare_images(self, a, b, detector=Detector.PHOTO, threshold=None, ctx=None):
        """The largest face of a against the largest face of b (as `facematch compare`): CompareResult. Raises
        FaceError when an image has no face."""
        from . import FaceError
        descs = []
        try:
            for img in (a, b):
                box = self.largest_face(img, detector=detector, ctx=ctx)
                if box is None:
                    raise FaceError(Status.FM_ERR_NO_FACE, "no face found")
                descs.append(self.embed_face(img, box, ctx=ctx))
            return compare(descs[0], descs[1], threshold=threshold, embedder=Embedder.DLIB, ctx=ctx)
        finally:
            for d in descs:
                _wipe_py(d)


def _wipe_py(d):
    np = _numpy()
    if np is not None and isinstance(d, np.ndarray):
        d.fill(0)
    elif isinstance(d, list):
        for i in range(len(d)):
            d[i] = 0.0


def _fsencode(p):
    return os.fsencode(p)


__all__ = ["Engine", "Detector", "Embedder", "FaceBox", "Point", "CompareResult", "compare", "default_threshold",
           "embedder_dim", "landmarks68_to_five", "face_chip", "align112", "MODEL_COUNT", "DESCRIPTOR_MAX"]
