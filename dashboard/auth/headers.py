"""Security headers on every response, and a content security policy as strict as Dash allows.

Scripts: only files from this server plus the exact inline scripts Dash writes into its index
page (by hash, from ``app.csp_hashes()``). Styles need 'unsafe-inline': Mantine writes its CSS
variables in a <style> element and Plotly injects its own stylesheet at run time.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Response, request

# Responses that may be cached: static files whose URL changes with their content.
_CACHEABLE_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico")


def content_security_policy(script_hashes: Sequence[str]) -> str:
    # Dash's csp_hashes() come quoted already ("'sha256-…'"); quote bare ones.
    quoted = (h if h.startswith("'") else f"'{h}'" for h in script_hashes)
    script_src = " ".join(["'self'", *quoted])
    directives = {
        "default-src": "'self'",
        "script-src": script_src,
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data: blob:",
        "font-src": "'self' data:",
        "connect-src": "'self'",
        "worker-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def apply_security_headers(response: Response, csp: str, *, https: bool) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = csp
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    if not request.path.startswith(_CACHEABLE_PREFIXES):
        # Pages and callback answers carry enforcement data: keep them off shared disks.
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response
