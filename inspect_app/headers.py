"""Security headers on every answer of both apps (pages, fragments, downloads, errors, /ca).

Pages get a Content-Security-Policy that allows scripts and styles only from the app's own files:
no inline script, no `javascript:` links, no eval (htmx runs with `allowEval: false`), no inline
style (htmx's indicator styles are in app.css), nothing from another host. Downloads (PDF, .xlsx,
photos, JSON) get a policy that runs no script at all but still lets Chromium's own PDF viewer
show a notice: that viewer is an `<embed>` (object-src) in a page with inline styles, which a
`default-src 'none'` would blank. No page may be framed (clickjacking), no answer is sniffed
into another type, and a link never tells another site which page it came from.
"""

PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Pico CSS draws its checkboxes and select arrows as data: SVGs.
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
FILE_POLICY = "; ".join(
    [
        "script-src 'none'",
        "object-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
COMMON = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def add_security_headers(response):
    """after_request: the headers, without overriding one a view chose for itself."""
    policy = PAGE_POLICY if response.mimetype == "text/html" else FILE_POLICY
    response.headers.setdefault("Content-Security-Policy", policy)
    for name, value in COMMON.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app):
    app.after_request(add_security_headers)
