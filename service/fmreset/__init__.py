"""fmreset: the reference reservation service and kiosk step of the My Number card PIN reset (issue 7).

    python3 -m fmreset --config CONFIG.json nonce [--kind sign]
    python3 -m fmreset --config CONFIG.json reserve --token-file VERDICT.jws
    python3 -m fmreset --config CONFIG.json kiosk --store seven-eleven --kind sign (--reader NAME | --vpcd-listen H:P)
    python3 -m fmreset --config CONFIG.json serve [--listen 127.0.0.1:8470]

See the README section "Reset flow". Needs the facematch Python binding (python/) and libfacematch.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_binding = os.path.join(os.path.dirname(os.path.dirname(_here)), "python")
if os.path.isdir(os.path.join(_binding, "facematch")) and _binding not in sys.path:
    sys.path.insert(0, _binding)
