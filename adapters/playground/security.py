"""Access token, CSRF tokens and response headers of the playground.

* Bound to a loopback address the playground needs no token (and refuses
  requests whose Host header is not a loopback name, against DNS rebinding).
  Bound to any other address it refuses to start without
  ``SUPPORTBOT_PLAYGROUND_TOKEN``; the token is accepted once as ``?token=``
  (then kept in an HttpOnly, SameSite=Strict cookie) or as
  ``Authorization: Bearer <token>``.
* Every state-changing POST carries a per-session CSRF token bound to the
  pane it came from (customer or agent), compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets

from aiohttp import web

from supportbot.bot.errors import ConfigurationError

SESSION_COOKIE = "sb_pg_session"
AUTH_COOKIE = "sb_pg_auth"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
ROLES = ("customer", "agent")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without an access token."""
    if not is_loopback(host) and not token:
        raise ConfigurationError(
            "SUPPORTBOT_PLAYGROUND_TOKEN",
            f"the playground is bound to {host}, which other machines can reach: set a long random token "
            "(or bind SUPPORTBOT_PLAYGROUND_HOST to 127.0.0.1)",
        )
    if token is not None and len(token) < 16:
        raise ConfigurationError("SUPPORTBOT_PLAYGROUND_TOKEN", "use at least 16 random characters")


class Guard:
    def __init__(self, *, host: str, token: str | None, secret: bytes | None = None) -> None:
        check_binding(host, token)
        self.loopback_only = is_loopback(host)
        self.token = token
        self.secret = secret or secrets.token_bytes(32)

    # ------------------------------------------------------------ access token
    def _auth_cookie_value(self) -> str:
        assert self.token is not None
        return hmac.new(self.secret, b"auth:" + self.token.encode(), hashlib.sha256).hexdigest()

    def authorized(self, request: web.Request) -> bool | str:
        """True when allowed; "cookie" when the request presented ?token= and needs the cookie set."""
        if self.token is None:
            return True
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), self.token.encode()):
            return True
        cookie = request.cookies.get(AUTH_COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self._auth_cookie_value().encode()):
            return True
        query = request.query.get("token", "")
        if query and hmac.compare_digest(query.encode(), self.token.encode()):
            return "cookie"
        return False

    def set_auth_cookie(self, response: web.StreamResponse) -> None:
        response.set_cookie(AUTH_COOKIE, self._auth_cookie_value(), httponly=True, samesite="Strict", path="/")

    def host_allowed(self, request: web.Request) -> bool:
        if not self.loopback_only:
            return True
        return is_loopback((request.url.host or "").lower())

    # ------------------------------------------------------------ sessions and CSRF
    @staticmethod
    def session_of(request: web.Request) -> str | None:
        value = request.cookies.get(SESSION_COOKIE, "")
        return value if 20 <= len(value) <= 100 else None

    @staticmethod
    def new_session() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def set_session_cookie(response: web.StreamResponse, session: str) -> None:
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Strict", path="/")

    def csrf_token(self, session: str, role: str) -> str:
        assert role in ROLES
        return hmac.new(self.secret, f"csrf:{role}:{session}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: str | None, role: str, presented: str | None) -> bool:
        if not session or not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.csrf_token(session, role).encode())
