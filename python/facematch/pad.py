"""Video-level passive anti-spoof decision (issue 5, facematch.h fm_pad_video_*) through libfacematch.

    from facematch import pad
    with pad.PadVideo() as v:
        for s in per_frame_scores:      # fm_pad_result.live of each scored frame, NaN for a frame without a face
            v.push(s)
        r = v.result()                  # PadVideoResult(evaluated, passed, scored, pushed, median, threshold)

The rule is the one the live session applies (README "Liveness signals"): live iff at least MIN_FRAMES finite
scores and their median >= threshold().
"""

import ctypes
import math
from collections import namedtuple

from . import Context, _Handle, _maybe_ctx, _typed_functions

_ctx = ctypes.c_void_p
_pv = ctypes.c_void_p
_st = ctypes.c_int

MIN_FRAMES = 3       # FM_PAD_VIDEO_MIN_FRAMES
MAX_FRAMES = 65536   # FM_PAD_VIDEO_MAX_FRAMES


class _Result(ctypes.Structure):
    """struct fm_pad_video_result (facematch.h)"""
    _fields_ = [("evaluated", ctypes.c_int), ("pass_", ctypes.c_int), ("scored", ctypes.c_int),
                ("pushed", ctypes.c_int), ("median", ctypes.c_double), ("threshold", ctypes.c_double)]


_SIGS = {
    "fm_pad_video_threshold": (ctypes.c_double, []),
    "fm_pad_video_create": (_st, [_ctx, ctypes.POINTER(_pv)]),
    "fm_pad_video_destroy": (None, [_pv]),
    "fm_pad_video_push": (_st, [_ctx, _pv, ctypes.c_double]),
    "fm_pad_video_result_get": (_st, [_ctx, _pv, ctypes.POINTER(_Result)]),
    "fm_pad_video_reset": (None, [_pv]),
}
_fn = _typed_functions(_SIGS)


PadVideoResult = namedtuple("PadVideoResult", "evaluated passed scored pushed median threshold")


def threshold():
    """The video-level threshold on the median of the per-frame fused scores."""
    return _fn("fm_pad_video_threshold")()


class PadVideo(_Handle):
    """fm_pad_video: per-frame passive scores of one presentation in, the session's video-level decision out.
    Use from one thread; close() or `with`."""

    _destroy = "fm_pad_video_destroy"
    _what = "pad video accumulator"
    _lookup = staticmethod(_fn)

    def __init__(self, ctx=None):
        self._ctx = ctx if ctx is not None else Context()
        self._own_ctx = ctx is None
        h = _pv()
        self._ctx._check(_fn("fm_pad_video_create")(self._ctx.handle, ctypes.byref(h)))
        self._h = h.value

    def _closed(self):
        if self._own_ctx and self._ctx is not None:
            self._ctx.close()
            self._ctx = None

    def push(self, score):
        """Adds one frame's score (0..1, or None/NaN for a frame without one). Raises InvalidArgumentError for
        anything else, LimitError beyond MAX_FRAMES."""
        s = math.nan if score is None else float(score)
        h = self.handle  # StateError once closed
        self._ctx._check(_fn("fm_pad_video_push")(self._ctx.handle, h, s))

    def extend(self, scores):
        for s in scores:
            self.push(s)

    def result(self):
        r = _Result()
        h = self.handle
        self._ctx._check(_fn("fm_pad_video_result_get")(self._ctx.handle, h, ctypes.byref(r)))
        return PadVideoResult(bool(r.evaluated), bool(r.pass_), r.scored, r.pushed, r.median, r.threshold)

    def reset(self):
        _fn("fm_pad_video_reset")(self.handle)


def decide(scores, ctx=None):
    """One-shot: the video-level decision over an iterable of per-frame scores."""
    with _maybe_ctx(ctx) as c:
        with PadVideo(c) as v:
            v.extend(scores)
            return v.result()
