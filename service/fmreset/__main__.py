"""Command line of the reservation service and the kiosk (see fmreset/__init__.py). Every command prints one JSON
decision on stdout; exit 0 when it was accepted, 1 when refused, 2 for a bad command line or configuration.
PINs are read from stdin (one per line), never from the command line."""

import argparse
import base64
import binascii
import datetime
import http.server
import json
import os
import sys
import time

from facematch import verdict as fmv  # noqa: E402

from .card import Card, CardFailure, PcscTransport, VpcdLinkTransport
from .service import ResetService
from .store import SQLiteStore

MAX_BODY = 65536


def load_config(path):
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    base = os.path.dirname(os.path.abspath(path))

    def p(x):
        return x if os.path.isabs(x) else os.path.join(base, x)
    for k in ("db", "engine_public_key", "log", "stores", "admin_key_file"):
        if cfg.get(k):
            cfg[k] = p(cfg[k])
    cfg["jpki_ca"] = [p(x) for x in cfg.get("jpki_ca", [])]
    return cfg


def make_service(cfg, clock=time.time):
    key = fmv.Key.load(open(cfg["engine_public_key"], "rb").read())
    cas = [open(x, "rb").read() for x in cfg["jpki_ca"]]
    # allow_testing_verdicts: for developer demos only (facematch demo --developer-verdict); never in production
    return ResetService(SQLiteStore(cfg["db"]), key, cas, cfg["aud"], log_path=cfg.get("log"),
                        stores=cfg.get("stores"), clock=clock,
                        allow_testing_verdicts=cfg.get("allow_testing_verdicts") is True)


def next_local(table, hhmm):
    """Unix time of the next moment the store table's local clock shows hhmm (test/demo clock)."""
    t = datetime.time.fromisoformat(hhmm)
    now = datetime.datetime.now(tz=table.tz)
    cand = now.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
    if cand <= now:
        cand += datetime.timedelta(days=1)
    return cand.timestamp()


def _b64(x):
    if not isinstance(x, str) or len(x) > 32768:
        raise ValueError("base64url string expected")
    return base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))


def auth_proof(svc, body):
    """{"nonce": hex, "auth_cert": b64url DER, "sign_cert": b64url DER, "signature": b64url} -> decision."""
    try:
        a, s, sig = _b64(body.get("auth_cert")), _b64(body.get("sign_cert")), _b64(body.get("signature"))
    except (ValueError, binascii.Error):
        a = s = sig = b""
    return svc.submit_auth_proof(body.get("nonce"), a, s, sig)


def emit(d):
    print(json.dumps(d, sort_keys=True), flush=True)
    return 0 if d.get("ok") else 1


def serve(svc, listen):
    host, port = listen.rsplit(":", 1)

    class H(http.server.BaseHTTPRequestHandler):
        def _reply(self, code, d):
            b = (json.dumps(d, sort_keys=True) + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n <= 0 or n > MAX_BODY:
                return self._reply(413 if n > MAX_BODY else 400, {"ok": False, "code": "BAD_REQUEST",
                                                                  "message": "JSON body of 1..65536 bytes expected"})
            try:
                body = json.loads(self.rfile.read(n))
                if not isinstance(body, dict):
                    raise ValueError
            except ValueError:
                return self._reply(400, {"ok": False, "code": "BAD_REQUEST", "message": "body is not a JSON object"})
            if self.path == "/v1/nonces":
                d = svc.issue_nonce(body.get("kind", "sign"))
            elif self.path == "/v1/reservations":
                d = svc.submit_verdict(body.get("token"))
            elif self.path == "/v1/reservations/auth":
                d = auth_proof(svc, body)
            else:
                return self._reply(404, {"ok": False, "code": "NOT_FOUND", "message": "unknown endpoint"})
            self._reply(200 if d["ok"] else (409 if d["code"].startswith(("NONCE_", "VERDICT_REPLAYED")) else 403), d)

        def log_message(self, fmt, *args):  # the decision log is the record; no request lines with tokens
            pass

    srv = http.server.ThreadingHTTPServer((host, int(port)), H)
    print(json.dumps({"listening": f"{host}:{srv.server_address[1]}"}), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m fmreset", description=__doc__)
    ap.add_argument("--config", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("nonce")
    s.add_argument("--kind", default="sign")
    s = sub.add_parser("reserve")
    s.add_argument("--token-file", required=True)
    s = sub.add_parser("reserve-auth", help="user-authentication-PIN reset: proof made with the signing key")
    s.add_argument("--proof-file", required=True, help="JSON: nonce, auth_cert, sign_cert, signature (base64url)")
    s = sub.add_parser("kiosk", help="PINs on stdin: first line the PIN you know, second line the new PIN")
    s.add_argument("--store", required=True)
    s.add_argument("--kind", default="sign")
    s.add_argument("--at-local", metavar="HH:MM",
                   help="TEST/DEMO ONLY: the kiosk's clock is set to the next time the stores' local clock shows HH:MM")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--reader", help="PC/SC reader name ('' = first reader with a card)")
    g.add_argument("--vpcd-listen", metavar="127.0.0.1:PORT",
                   help="no pcscd: listen here for the virtual card (prints {\"vpcd_port\": N} first)")
    s = sub.add_parser("serve")
    s.add_argument("--listen", default="127.0.0.1:8470")
    a = ap.parse_args(argv)
    try:
        cfg = load_config(a.config)
        svc = make_service(cfg)
    except (OSError, ValueError, KeyError) as e:
        print(f"fmreset: configuration: {e}", file=sys.stderr)
        return 2
    if getattr(a, "at_local", None):
        fixed = next_local(svc.table, a.at_local)
        svc.clock = lambda: fixed
    if a.cmd == "nonce":
        return emit(svc.issue_nonce(a.kind))
    if a.cmd == "reserve":
        with open(a.token_file, encoding="ascii", errors="replace") as f:
            return emit(svc.submit_verdict(f.read(65537).strip()))
    if a.cmd == "reserve-auth":
        try:
            with open(a.proof_file, encoding="utf-8") as f:
                body = json.loads(f.read(131072))
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            body = {}
        return emit(auth_proof(svc, body))
    if a.cmd == "serve":
        return serve(svc, a.listen)
    # kiosk
    other = sys.stdin.readline().rstrip("\r\n")
    new = sys.stdin.readline().rstrip("\r\n")
    try:
        admin_key = bytes.fromhex(open(cfg["admin_key_file"]).read().strip())
        if len(admin_key) != 16:
            raise ValueError("admin key must be 32 hex digits")
    except (OSError, ValueError, KeyError) as e:
        print(f"fmreset: configuration: admin key: {e}", file=sys.stderr)
        return 2
    try:
        if a.vpcd_listen:
            host, port = a.vpcd_listen.rsplit(":", 1)
            srv = VpcdLinkTransport.listen(host, int(port))
            print(json.dumps({"vpcd_port": srv.getsockname()[1]}), flush=True)
            t = VpcdLinkTransport.accept(srv)
        else:
            t = PcscTransport(a.reader or None)
    except (CardFailure, OSError) as e:
        return emit({"ok": False, "code": "CARD_ERROR", "message": f"no card: {getattr(e, 'message', e)}"})
    card = Card(t)
    try:
        return emit(svc.kiosk_reset(card, a.store, a.kind, other, new, admin_key))
    finally:
        other = new = None
        card.close()
        t.close()


if __name__ == "__main__":
    sys.exit(main())
