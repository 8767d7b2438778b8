"""The container image's HEALTHCHECK: `python -m strongbox.ops.healthcheck [URL]`.

Exits 0 when the local node answers `sys/health` with the liveness parameters the chart's
livenessProbe uses (a sealed or uninitialized node is alive: 204), 1 otherwise. It checks
liveness of the local process only, so it does not verify the certificate (the name on it
is the pod's, not 127.0.0.1's CA-verified identity). Standard library only.
"""

from __future__ import annotations

import ssl
import sys
import urllib.error
import urllib.request

DEFAULT_URL = ("https://127.0.0.1:8200/v1/sys/health"
               "?standbyok=true&perfstandbyok=true&sealedcode=204&uninitcode=204")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else DEFAULT_URL
    if not url.startswith(("https://", "http://")):
        return 1
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # local liveness only; see the module docstring
    try:
        with urllib.request.urlopen(url, timeout=4.0, context=context) as response:  # noqa: S310
            return 0 if 200 <= response.status < 300 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
