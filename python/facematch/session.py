"""Live sessions (issue 5, facematch.h [issue 5]) through libfacematch: camera frames in, the challenge's
instructions out, and at the end a decision with reasons, the match distance and the liveness evidence.

    import facematch as fm
    from facematch import face, session
    eng = face.Engine(models=session.REQUIRED_MODELS)
    portrait, _ = fm.load("portrait.jp2", fm.PixFmt.RGB24)
    with session.Session(eng, portrait, nonce=bytes.fromhex(nonce_hex), policy=session.Policy()) as s:
        for bgr, t_us in camera:                     # uint8 (H, W, 3) BGR frames, monotonic microseconds
            fb = s.push_frame(bgr, t_us, fmt=fm.PixFmt.BGR24)
            show(fb.text_en, fb.text_ja)             # "Blink now" / Japanese
            if fb.state in (session.State.DONE, session.State.FAILED):
                break
        r = s.finish()                               # SessionResult
        print(r.decision, r.reasons, r.distance, r.failed_checks)

Threads: a Session belongs to ONE thread (the thread of its Context; it holds per-session state and scratch), as
does its Context. The Engine it uses may be shared by many sessions on many threads; keep the Engine open until the
Session is closed (the Session holds a reference to it).

The challenge derivation is specified in facematch.h (HMAC-SHA256 of the nonce, key "facematch-challenge-v1");
derive_challenge() runs the library's implementation.
"""

import ctypes
import enum
import operator
import os
from collections import namedtuple

from . import Context, InvalidArgumentError, Status, _Handle, _maybe_ctx, _raise, _s, _typed_functions
from .face import Engine, FaceBox, _Box, _descriptor_in, _image, _wipe_c

_ctx = ctypes.c_void_p
_eng = ctypes.c_void_p
_img = ctypes.c_void_p
_ses = ctypes.c_void_p
_st = ctypes.c_int
_u8p = ctypes.c_char_p

CHALLENGE_MAX_STEPS = 3   # FM_CHALLENGE_MAX_STEPS
MAX_REASONS = 16          # FM_SESSION_MAX_REASONS
MAX_CHECKS = 12           # FM_SESSION_MAX_CHECKS
MAX_FRAMES = 8            # FM_SESSION_MAX_FRAMES
MAX_EVENTS = 32           # FM_SESSION_MAX_EVENTS
CHALLENGE_KEY = b"facematch-challenge-v1"

# the models fm_session_create needs in the engine (the liveness models are loaded by the session itself)
REQUIRED_MODELS = ("dlib_resnet", "dlib_sp5", "dlib_sp68", "fp_detect")


class Action(enum.IntEnum):
    """fm_challenge_action (turns are the holder's own left/right)"""
    BLINK = 1
    TURN_LEFT = 2
    TURN_RIGHT = 3
    NOD = 4


class State(enum.IntEnum):
    """fm_session_state"""
    SEARCHING = 1
    CHALLENGE = 2
    COLLECTING = 3
    DONE = 4
    FAILED = 5


class Instruction(enum.IntEnum):
    """fm_instruction"""
    NONE = 0
    LOOK_AT_CAMERA = 1
    ONE_FACE_ONLY = 2
    MOVE_CLOSER = 3
    MOVE_BACK = 4
    CENTER_FACE = 5
    TOO_DARK = 6
    TOO_BRIGHT = 7
    HOLD_STILL = 8
    LOOK_STRAIGHT = 9
    BLINK = 10
    TURN_LEFT = 11
    TURN_RIGHT = 12
    NOD = 13
    DONE = 14
    FAILED = 15


DECISIONS = {1: "match", 2: "no_match", 3: "spoof_suspected", 4: "inconclusive"}  # fm_verdict_decision


# ---- C structures ------------------------------------------------------------------------------------------------

class _Challenge(ctypes.Structure):
    """struct fm_challenge"""
    _fields_ = [("n_steps", ctypes.c_int), ("action", ctypes.c_int * CHALLENGE_MAX_STEPS),
                ("window_ms", ctypes.c_int * CHALLENGE_MAX_STEPS)]


_D, _I = ctypes.c_double, ctypes.c_int


class _Policy(ctypes.Structure):
    """struct fm_session_policy"""
    _fields_ = [("match_threshold", _D), ("match_fmr", _D), ("match_frames", _I), ("min_match_frames", _I),
                ("max_duration", _D), ("settle_time", _D),
                ("require_challenge", _I), ("require_passive", _I), ("require_continuity", _I),
                ("pad_threshold", _D), ("pad_max_spoof_fraction", _D), ("turn_degrees", _D), ("nod_degrees", _D),
                ("identity_threshold", _D), ("max_jump", _D), ("min_fps", _D), ("max_fps", _D), ("max_gap", _D),
                ("min_face_px", _D), ("min_sharpness", _D), ("min_brightness", _D), ("max_brightness", _D),
                ("max_pose_degrees", _D), ("max_pitch_degrees", _D), ("mirrored", _I),
                ("models_dir", ctypes.c_char_p), ("liveness_model", ctypes.c_void_p),
                ("liveness_model_len", ctypes.c_size_t), ("eye_model", ctypes.c_void_p),
                ("eye_model_len", ctypes.c_size_t), ("verify_models", _I),
                ("test_n_steps", _I), ("test_actions", _I * CHALLENGE_MAX_STEPS), ("observe", _I)]


class _Feedback(ctypes.Structure):
    """struct fm_session_feedback"""
    _fields_ = [("state", _I), ("instruction", _I), ("code", ctypes.c_char_p), ("text_en", ctypes.c_char_p),
                ("text_ja", ctypes.c_char_p), ("step", _I), ("n_steps", _I), ("t", _D), ("step_time_left", _D),
                ("faces", _I), ("quality", _D), ("box", _Box), ("yaw", _D), ("pitch", _D), ("ear", _D), ("pad", _D),
                ("brightness", _D), ("sharpness", _D)]


class _Check(ctypes.Structure):
    """struct fm_session_check"""
    _fields_ = [("name", ctypes.c_char * 32), ("score", _D), ("threshold", _D), ("evaluated", _I), ("pass_", _I),
                ("detail", ctypes.c_char * 96)]


class _Step(ctypes.Structure):
    """struct fm_session_step"""
    _fields_ = [("action", _I), ("asked_at", _D), ("deadline", _D), ("met", _I), ("met_at", _D), ("evidence", _D)]


class _Event(ctypes.Structure):
    """struct fm_session_event"""
    _fields_ = [("action", _I), ("t_start", _D), ("t_end", _D), ("value", _D)]


class _Frame(ctypes.Structure):
    """struct fm_session_frame"""
    _fields_ = [("t", _D), ("quality", _D), ("face_px", _D), ("sharpness", _D), ("brightness", _D), ("yaw", _D),
                ("pitch", _D), ("distance", _D)]


class _Result(ctypes.Structure):
    """struct fm_session_result"""
    _fields_ = [("decision", _I), ("reasons", (ctypes.c_char * 65) * MAX_REASONS), ("n_reasons", _I),
                ("distance", _D), ("similarity", _D), ("threshold", _D), ("fmr", _D), ("match_frames", _I),
                ("checks", _Check * MAX_CHECKS), ("n_checks", _I),
                ("steps", _Step * CHALLENGE_MAX_STEPS), ("n_steps", _I), ("challenge_fixed", _I),
                ("frames", _Frame * MAX_FRAMES), ("n_frames", _I),
                ("frames_total", _I), ("frames_with_face", _I), ("frames_multi_face", _I),
                ("duration", _D), ("pad_score", _D), ("events", _Event * MAX_EVENTS), ("n_events", _I),
                ("n_events_total", _I)]


class _VCheck(ctypes.Structure):
    """struct fm_verdict_check"""
    _fields_ = [("name", ctypes.c_char_p), ("score", _D), ("threshold", _D), ("pass_", _I)]


class _VStep(ctypes.Structure):
    """struct fm_verdict_step"""
    _fields_ = [("action", ctypes.c_char_p), ("asked_at", _D), ("deadline", _D), ("met", _I), ("met_at", _D)]


class _VFrame(ctypes.Structure):
    """struct fm_verdict_frame"""
    _fields_ = [("t", _D), ("quality", _D), ("face_px", _D), ("sharpness", _D), ("brightness", _D), ("yaw", _D),
                ("pitch", _D)]


class _VModel(ctypes.Structure):
    """struct fm_verdict_model"""
    _fields_ = [("name", ctypes.c_char_p), ("sha256_hex", ctypes.c_char_p)]


class _VerdictInput(ctypes.Structure):
    """struct fm_verdict_input (FM_VERDICT_MAX_* = 16 reasons, 16 checks, 8 steps, 16 frames, 16 models)"""
    _fields_ = [("aud", ctypes.c_char_p), ("nonce_hex", ctypes.c_char_p), ("iat", ctypes.c_int64),
                ("lifetime", ctypes.c_int64), ("decision", _I), ("reasons", ctypes.c_char_p * 16),
                ("n_reasons", _I), ("distance", _D), ("similarity", _D), ("threshold", _D), ("fmr", _D),
                ("metric", ctypes.c_char_p), ("checks", _VCheck * 16), ("n_checks", _I), ("steps", _VStep * 8),
                ("n_steps", _I), ("frames", _VFrame * 16), ("n_frames", _I),
                ("portrait_sha256", ctypes.c_uint8 * 32), ("portrait_auth", _I),
                ("card_cert_der", ctypes.c_void_p), ("card_cert_len", ctypes.c_size_t),
                ("models", _VModel * 16), ("n_models", _I)]


PORTRAIT_AUTH = {"verified": 1, "unverifiable": 2, "invalid": 3}  # fm_portrait_auth

_SIGS = {
    "fm_session_verdict_input": (_st, [_ctx, ctypes.POINTER(_Result), ctypes.c_char_p, ctypes.c_char_p,
                                       ctypes.c_char_p, _I, ctypes.c_void_p, ctypes.c_size_t,
                                       ctypes.POINTER(_VerdictInput)]),
    "fm_verdict_sign": (_st, [_ctx, ctypes.c_void_p, ctypes.POINTER(_VerdictInput), ctypes.c_void_p,
                              ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    "fm_challenge_action_name": (ctypes.c_char_p, [_I]),
    "fm_challenge_action_parse": (_I, [ctypes.c_char_p]),
    "fm_challenge_derive": (_st, [_ctx, _u8p, ctypes.c_size_t, ctypes.POINTER(_Challenge)]),
    "fm_session_policy_init": (None, [ctypes.POINTER(_Policy)]),
    "fm_session_create": (_st, [_ctx, _eng, _img, _u8p, ctypes.c_size_t, ctypes.POINTER(_Policy),
                                ctypes.POINTER(_ses)]),
    "fm_session_create_with_reference": (_st, [_ctx, _eng, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, _u8p,
                                               ctypes.c_size_t, ctypes.POINTER(_Policy), ctypes.POINTER(_ses)]),
    "fm_session_destroy": (None, [_ses]),
    "fm_instruction_code": (ctypes.c_char_p, [_I]),
    "fm_instruction_text": (ctypes.c_char_p, [_I, ctypes.c_char_p]),
    "fm_session_push_frame": (_st, [_ses, _img, ctypes.c_int64, ctypes.POINTER(_Feedback)]),
    "fm_session_challenge": (None, [_ses, ctypes.POINTER(_Challenge)]),
    "fm_session_finish": (_st, [_ses, ctypes.POINTER(_Result)]),
    "fm_verdict_decision_name": (ctypes.c_char_p, [_I]),
}
_fn = _typed_functions(_SIGS)


# ---- challenge -------------------------------------------------------------------------------------------------

ChallengeStep = namedtuple("ChallengeStep", "action window_ms code")
ChallengeStep.__doc__ = ("One challenge step: action name ('blink', 'turn_left', 'turn_right', 'nod'), its window (ms) "
                         "and the fm_challenge_action code (an Action).")


def action_name(a):
    return _s(_fn("fm_challenge_action_name")(int(a)))


def action_parse(name):
    """Action for 'blink' / 'turn_left' / 'turn_right' / 'nod'; raises InvalidArgumentError otherwise."""
    v = _fn("fm_challenge_action_parse")(name.encode("ascii", "replace") if isinstance(name, str) else bytes(name))
    if not v:
        raise InvalidArgumentError(Status.FM_ERR_INVALID_ARGUMENT, f"unknown challenge action {name!r}")
    return Action(v)


def _steps(c):
    return [ChallengeStep(action_name(c.action[k]), c.window_ms[k], _action(c.action[k])) for k in range(c.n_steps)]


def _action(v):
    try:
        return Action(v)
    except ValueError:
        return v


def _nonce(nonce):
    if isinstance(nonce, str):
        raise TypeError("nonce must be bytes (use bytes.fromhex for a hex string)")
    return bytes(nonce)


def derive_challenge(nonce, ctx=None):
    """The challenge the library derives from the service's nonce (8..64 bytes; InvalidArgumentError otherwise):
    a list of ChallengeStep(action, window_ms)."""
    n = _nonce(nonce)
    c = _Challenge()
    with _maybe_ctx(ctx) as cx:
        cx._check(_fn("fm_challenge_derive")(cx.handle, n, len(n), ctypes.byref(c)))
    return _steps(c)


def instruction_code(i):
    """Stable code of an instruction ("blink_now", ...)."""
    return _s(_fn("fm_instruction_code")(int(i)))


def instruction_text(i, lang="en"):
    """English ("en") or Japanese ("ja") text of an instruction."""
    return _s(_fn("fm_instruction_text")(int(i), lang.encode("ascii")))


# ---- policy ----------------------------------------------------------------------------------------------------

_BOOL_FIELDS = {"require_challenge", "require_passive", "require_continuity", "mirrored", "verify_models", "observe"}
_INT_FIELDS = {"match_frames", "min_match_frames"}
_SPECIAL = {"models_dir", "liveness_model", "eye_model", "challenge"}


class Policy:
    """fm_session_policy: the library's safe defaults (fm_session_policy_init), changed by keyword arguments named
    as the C fields (facematch.h [issue 5]), e.g. Policy(max_pose_degrees=30, mirrored=True).

    Special keywords: models_dir (str path), liveness_model / eye_model (model file bytes, read only while the
    session is created), challenge (TESTING ONLY: a fixed list of 1..3 action names or Actions, recorded in the
    result as challenge_fixed and the reason "challenge_fixed_for_testing"). Reading an attribute gives the current
    value (e.g. Policy().match_threshold == 0.52); unknown names raise TypeError/AttributeError."""

    def __init__(self, **fields):
        object.__setattr__(self, "_c", _Policy())
        object.__setattr__(self, "_keep", {})
        _fn("fm_session_policy_init")(ctypes.byref(self._c))
        for k, v in fields.items():
            if k not in _SPECIAL and k not in self._names():
                raise TypeError(f"Policy has no field {k!r}")
            setattr(self, k, v)

    @staticmethod
    def _names():
        return {f[0] for f in _Policy._fields_} - {"liveness_model_len", "eye_model_len", "test_n_steps",
                                                   "test_actions"}

    def __getattr__(self, k):
        if k.startswith("_"):
            raise AttributeError(k)
        c = object.__getattribute__(self, "_c")
        if k == "challenge":
            return [action_name(c.test_actions[i]) for i in range(c.test_n_steps)] or None
        if k == "models_dir":
            return os.fsdecode(c.models_dir) if c.models_dir is not None else None
        if k in ("liveness_model", "eye_model"):
            return self._keep.get(k)
        if k not in self._names():
            raise AttributeError(f"Policy has no field {k!r}")
        v = getattr(c, k)
        return bool(v) if k in _BOOL_FIELDS else v

    def __setattr__(self, k, v):
        c = self._c
        if k == "challenge":
            acts = [] if v is None else [action_parse(a) if isinstance(a, str) else Action(a) for a in v]
            if len(acts) > CHALLENGE_MAX_STEPS:
                raise InvalidArgumentError(Status.FM_ERR_INVALID_ARGUMENT,
                                           f"a challenge has at most {CHALLENGE_MAX_STEPS} steps")
            c.test_n_steps = len(acts)
            for i in range(CHALLENGE_MAX_STEPS):
                c.test_actions[i] = int(acts[i]) if i < len(acts) else 0
        elif k == "models_dir":
            b = None if v is None else os.fsencode(v)
            self._keep[k] = b
            c.models_dir = b
        elif k in ("liveness_model", "eye_model"):
            b = None if v is None else bytes(v)
            self._keep[k] = b
            setattr(c, k, ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p) if b else None)
            setattr(c, k + "_len", len(b) if b else 0)
        elif k in self._names():
            if k in _BOOL_FIELDS:
                setattr(c, k, 1 if v else 0)
            elif k in _INT_FIELDS:
                setattr(c, k, operator.index(v))
            else:
                setattr(c, k, float(v))
        else:
            raise AttributeError(f"Policy has no field {k!r}")

    def as_dict(self):
        out = {k: getattr(self, k) for k in sorted(self._names()) if k not in ("liveness_model", "eye_model")}
        out["challenge"] = self.challenge
        return out

    def __repr__(self):
        return "Policy(%s)" % ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())


# ---- feedback and results --------------------------------------------------------------------------------------

Feedback = namedtuple("Feedback", "state instruction code text_en text_ja step n_steps t step_time_left faces quality "
                                  "box yaw pitch ear pad brightness sharpness")
Feedback.__doc__ = ("fm_session_feedback of one frame: state (State), instruction (Instruction), its code and "
                    "English/Japanese texts, the step asked (-1 when none), seconds since the first frame, time left "
                    "for the step (NaN when none), faces seen, frame quality, the tracked face (FaceBox or None) and "
                    "this frame's signals (NaN when not measured).")

Check = namedtuple("Check", "name score threshold evaluated passed detail")
Step = namedtuple("Step", "action asked_at deadline met met_at evidence")
Event = namedtuple("Event", "action t_start t_end value")
MatchFrame = namedtuple("MatchFrame", "t quality face_px sharpness brightness yaw pitch distance")


class SessionResult(namedtuple("SessionResult", "decision decision_code reasons distance similarity threshold fmr "
                                                "match_frames checks steps challenge_fixed frames frames_total "
                                                "frames_with_face frames_multi_face duration pad_score events "
                                                "events_total")):
    """fm_session_result: decision ("match", "no_match", "spoof_suspected", "inconclusive"), reason codes, the
    combined match distance/similarity/threshold/fmr (distance NaN if no face was seen), the liveness evidence
    (checks: Check(name, score, threshold, evaluated, passed, detail); pad_score), the challenge steps
    (Step(action, asked_at, deadline, met, met_at, evidence)), the frames used for the match, frame counts, the
    duration and the detected events (Event(action, t_start, t_end, value))."""

    @property
    def match(self):
        return self.decision == "match"

    @property
    def failed_checks(self):
        """Names of the checks that were evaluated and failed."""
        return [c.name for c in self.checks if c.evaluated and not c.passed]

    def sign_verdict(self, key, aud, nonce_hex, portrait_sha256, portrait_auth="unverifiable", card_cert=None,
                     card_signer=None, ctx=None):
        """The signed verdict (a JWS string, docs/verdict-format.md) stating this result: fm_session_verdict_input
        plus fm_verdict_sign. key: facematch.verdict.Key (ES256/EdDSA private); aud: the service's audience id;
        nonce_hex: the service's nonce as hex; portrait_sha256: 32 bytes (or 64 hex digits) of the portrait as read
        (from the chip); portrait_auth: "verified" | "unverifiable" | "invalid"; card_cert/card_signer: the card
        binding as in facematch.verdict.sign_json (verifiers reject verdicts without it by default). Raises
        StateError when the session saw no face."""
        return _sign_verdict(self, key, aud, nonce_hex, portrait_sha256, portrait_auth, card_cert, card_signer, ctx)

    def check(self, name):
        """The Check called name, or None."""
        for c in self.checks:
            if c.name == name:
                return c
        return None


def _result(r):
    name = _s(_fn("fm_verdict_decision_name")(r.decision)) or DECISIONS.get(r.decision, str(r.decision))
    out = SessionResult(
        decision=name, decision_code=r.decision,
        reasons=[_s(r.reasons[i].value) for i in range(min(r.n_reasons, MAX_REASONS))],
        distance=r.distance, similarity=r.similarity, threshold=r.threshold, fmr=r.fmr,
        match_frames=r.match_frames,
        checks=[Check(_s(c.name), c.score, c.threshold, bool(c.evaluated), bool(c.pass_), _s(c.detail))
                for c in r.checks[:min(r.n_checks, MAX_CHECKS)]],
        steps=[Step(action_name(s.action), s.asked_at, s.deadline, bool(s.met), s.met_at, s.evidence)
               for s in r.steps[:min(r.n_steps, CHALLENGE_MAX_STEPS)]],
        challenge_fixed=bool(r.challenge_fixed),
        frames=[MatchFrame(f.t, f.quality, f.face_px, f.sharpness, f.brightness, f.yaw, f.pitch, f.distance)
                for f in r.frames[:min(r.n_frames, MAX_FRAMES)]],
        frames_total=r.frames_total, frames_with_face=r.frames_with_face, frames_multi_face=r.frames_multi_face,
        duration=r.duration, pad_score=r.pad_score,
        events=[Event(action_name(e.action), e.t_start, e.t_end, e.value)
                for e in r.events[:min(r.n_events, MAX_EVENTS)]],
        events_total=r.n_events_total)
    out._raw = r  # the C struct, for sign_verdict (fm_session_verdict_input reads it)
    return out


def _feedback(f):
    b = f.box
    box = None if (b.left == 0 and b.top == 0 and b.right == 0 and b.bottom == 0) else \
        FaceBox(b.left, b.top, b.right, b.bottom, b.score)
    try:
        state = State(f.state)
    except ValueError:
        state = f.state
    try:
        instr = Instruction(f.instruction)
    except ValueError:
        instr = f.instruction
    return Feedback(state, instr, _s(f.code), _s(f.text_en), _s(f.text_ja), f.step, f.n_steps, f.t,
                    f.step_time_left, f.faces, f.quality, box, f.yaw, f.pitch, f.ear, f.pad, f.brightness,
                    f.sharpness)


def _sign_verdict(res, key, aud, nonce_hex, portrait_sha256, portrait_auth, card_cert, card_signer, ctx):
    from . import verdict
    raw = getattr(res, "_raw", None)
    if raw is None:
        raise TypeError("sign_verdict needs a SessionResult returned by Session.finish()")
    if isinstance(portrait_sha256, str):
        portrait_sha256 = bytes.fromhex(portrait_sha256)
    digest = bytes(portrait_sha256)
    if len(digest) != 32:
        raise InvalidArgumentError(Status.FM_ERR_INVALID_ARGUMENT, "portrait_sha256 must be 32 bytes")
    auth = PORTRAIT_AUTH[portrait_auth] if isinstance(portrait_auth, str) else int(portrait_auth)
    cert = bytes(card_cert) if card_cert is not None else None
    aud_b, nonce_b = aud.encode(), nonce_hex.encode("ascii")
    errors, keep = [], None
    if card_signer is None:
        fn, user = None, None
    elif isinstance(card_signer, verdict.Key):
        fn, user = verdict._card_sign_ptr(), card_signer.handle
    else:
        def trampoline(_user, dg, sig, cap, sig_len):
            try:
                sg = card_signer(bytes(dg[:32]))
                if len(sg) > cap:
                    return int(Status.FM_ERR_BUFFER_TOO_SMALL)
                ctypes.memmove(sig, sg, len(sg))
                sig_len[0] = len(sg)
                return 0
            except Exception as e:  # re-raised after the C call
                errors.append(e)
                return int(Status.FM_ERR_INTERNAL)
        keep = verdict.CARD_SIGN_FN(trampoline)
        fn, user = ctypes.cast(keep, ctypes.c_void_p).value, None
    vin = _VerdictInput()
    with _maybe_ctx(ctx) as c:
        c._check(_fn("fm_session_verdict_input")(c.handle, ctypes.byref(raw), aud_b, nonce_b, digest, auth, cert,
                                                 len(cert) if cert else 0, ctypes.byref(vin)))
        out = ctypes.create_string_buffer(verdict.TOKEN_MAX)
        n = ctypes.c_size_t(0)
        st = _fn("fm_verdict_sign")(c.handle, key.handle, ctypes.byref(vin), fn, user, out, verdict.TOKEN_MAX,
                                    ctypes.byref(n))
        del keep
        if errors:
            raise errors[0]
        c._check(st)
    return out.raw[:n.value].decode("ascii")


# ---- session ---------------------------------------------------------------------------------------------------

class Session(_Handle):
    """fm_session: one live verification.

    Session(engine, portrait, nonce, policy=None, ctx=None)
      engine    a face.Engine holding at least REQUIRED_MODELS (the session loads the liveness models itself, from
                policy.models_dir, else the engine's models_dir, else the default directory)
      portrait  the reference portrait: an Image or uint8 numpy array with exactly one face (FaceError otherwise),
                or, with reference=True, a precomputed 128-d DLIB descriptor (Engine.embed_face)
      nonce     the service's one-time nonce, 8..64 bytes (InvalidArgumentError otherwise)
      policy    a Policy (None = the defaults)
      ctx       the Context that receives the errors of every session call (None: a private one)

    THREADS: a Session and its Context belong to one thread. The Engine may be shared by many sessions; the
    Session keeps a reference to it, and close() (or `with`) wipes the descriptors the session holds.
    """

    _destroy = "fm_session_destroy"
    _what = "session"
    _lookup = staticmethod(_fn)

    def __init__(self, engine, portrait, nonce, policy=None, ctx=None, reference=False):
        if not isinstance(engine, Engine):
            raise TypeError("engine must be a facematch.face.Engine")
        self._ctx = ctx if ctx is not None else Context()
        self._own_ctx = ctx is None
        self._engine = engine
        self._finished = False
        n = _nonce(nonce)
        pol = policy if policy is not None else Policy()
        if not isinstance(pol, Policy):
            raise TypeError("policy must be a facematch.session.Policy")
        h = _ses()
        c = self._ctx
        if reference:
            buf, dim = _descriptor_in(portrait)
            try:
                st = _fn("fm_session_create_with_reference")(c.handle, engine.handle, buf, dim, n, len(n),
                                                             ctypes.byref(pol._c), ctypes.byref(h))
            finally:
                _wipe_c(buf)
        else:
            with _image(portrait, c) as im:
                st = _fn("fm_session_create")(c.handle, engine.handle, im.handle, n, len(n), ctypes.byref(pol._c),
                                              ctypes.byref(h))
        if st != 0:
            msg = c.errmsg
            self._closed()
            _raise(st, msg)
        self._h = h.value
        self.policy = pol

    def _closed(self):
        self._engine = None
        if self._own_ctx and self._ctx is not None:
            self._ctx.close()
            self._ctx = None

    @property
    def challenge(self):
        """The challenge this session asks (derived from the nonce, or fixed by policy.challenge for tests)."""
        c = _Challenge()
        _fn("fm_session_challenge")(self.handle, ctypes.byref(c))
        return _steps(c)

    def push_frame(self, frame, timestamp_us, fmt=None, rotation=0):
        """Processes one frame: an Image (any fm_image, e.g. facematch.wrap of an NV21/I420/BGRA camera buffer with
        its rotation) or a uint8 numpy array (RGB by default; fmt=PixFmt.BGR24 for OpenCV frames, rotation in
        degrees clockwise to make it upright). timestamp_us: monotonic capture time in integer MICROseconds,
        strictly increasing (otherwise InvalidArgumentError and the session FAILS for good). Frames after DONE or
        FAILED raise StateError. Returns Feedback (state, instruction, texts, signals)."""
        try:
            ts = operator.index(timestamp_us)
        except TypeError:
            raise TypeError("timestamp_us must be an integer number of microseconds") from None
        h = self.handle
        fb = _Feedback()
        c = self._ctx
        with _image(frame, c, fmt=fmt, rotation=rotation) as im:
            c._check(_fn("fm_session_push_frame")(h, im.handle, ts, ctypes.byref(fb)))
        return _feedback(fb)

    def finish(self):
        """Ends the session (in any state) and returns its SessionResult. Only once: later calls raise
        StateError."""
        h = self.handle
        r = _Result()
        self._ctx._check(_fn("fm_session_finish")(h, ctypes.byref(r)))
        self._finished = True
        return _result(r)

    def run(self, frames, fmt=None, rotation=0, on_feedback=None):
        """Pushes (frame, timestamp_us) pairs until the session is DONE or FAILED (or the frames run out, as the
        CLI does) and returns finish(). A frame refused for its timestamp ends the session (FAILED)."""
        for frame, ts in frames:
            try:
                fb = self.push_frame(frame, ts, fmt=fmt, rotation=rotation)
            except InvalidArgumentError:
                break  # non-monotonic timestamp: the session is FAILED; finish() says why
            if on_feedback is not None:
                on_feedback(fb)
            if fb.state in (State.DONE, State.FAILED):
                break
        return self.finish()


__all__ = ["Session", "Policy", "SessionResult", "Feedback", "Check", "Step", "Event", "MatchFrame",
           "ChallengeStep", "State", "Instruction", "Action", "derive_challenge", "instruction_code",
           "instruction_text", "action_name", "action_parse", "REQUIRED_MODELS", "DECISIONS"]
