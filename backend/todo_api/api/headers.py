"""Response headers every answer carries (the docs pages bring their own CSP)."""

# JSON needs no scripts, styles, frames or forms: the API's policy forbids everything, so a
# response that a browser somehow renders as a page can do nothing.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": API_CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
}
