"""The session challenge the engine must have asked for a nonce, recomputed by the service from its own nonce
(README "session", "Challenge derivation"; facematch.h fm_challenge_derive, version 1). The service checks that the
verdict's liveness.challenge lists exactly these actions, in this order, each met: a verdict made with a challenge
the caller chose (testing) or with no challenge at all is refused even if its reasons did not say so."""

import hashlib
import hmac

ACTIONS = ("blink", "turn_left", "turn_right", "nod")
KEY = b"facematch-challenge-v1"


def derive(nonce):
    """nonce: bytes (8..64). Returns (actions tuple, windows in ms tuple)."""
    if not isinstance(nonce, (bytes, bytearray)) or not 8 <= len(nonce) <= 64:
        raise ValueError("nonce must be 8..64 bytes")
    d = hmac.new(KEY, bytes(nonce), hashlib.sha256).digest()
    n = 2 + (d[0] & 1)
    a = list(ACTIONS)
    pos = 1
    for i in (3, 2, 1):
        limit = 256 - 256 % (i + 1)
        while pos <= 23 and d[pos] >= limit:
            pos += 1
        j = 0  # bytes ran out (probability < 1e-30): j = 0, as facematch.h specifies
        if pos <= 23:
            j = d[pos] % (i + 1)
            pos += 1
        a[i], a[j] = a[j], a[i]
    return tuple(a[:n]), tuple(3000 + 250 * (d[24 + k] % 9) for k in range(n))


def check(payload, nonce_hex):
    """None when the verdict's challenge is the one derived from nonce_hex and every step was met, else why not."""
    try:
        want, _ = derive(bytes.fromhex(nonce_hex))
    except ValueError as e:
        return f"cannot derive the challenge: {e}"
    live = payload.get("liveness") if isinstance(payload, dict) else None
    steps = live.get("challenge") if isinstance(live, dict) else None
    if not isinstance(steps, list) or not steps:
        return "the verdict reports no challenge"
    got = tuple(s.get("action") if isinstance(s, dict) else None for s in steps)
    if got != want:
        return f"the challenge asked ({','.join(map(str, got))}) is not the one derived from our nonce ({','.join(want)})"
    missed = [s["action"] for s in steps if s.get("met") is not True]
    if missed:
        return f"challenge steps not met: {','.join(missed)}"
    return None
