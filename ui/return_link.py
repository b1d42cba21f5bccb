"""After sign-in, back to the link that was opened (`/replay?call=…&step=…`), not the home page.

Streamlit's sign-in ends at its `/oauth2callback`, which always redirects to the home page. So, as a signed-out
person presses "Sign in", the page remembers the link they opened under an id of their browser (a random cookie this
middleware gives every browser that loads a page), and when the same browser comes back through the callback, the
middleware points the callback's redirect at that link instead. Links are kept ten minutes, in this process (a
second server process would not know them: the person then lands on the home page, as without this module), and only
links to this server's own pages are followed. No Streamlit call here: it runs in the web server, outside sessions.
"""

from __future__ import annotations

import secrets
import threading
import time
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection

BROWSER_COOKIE = "callscope_browser"
BROWSER_COOKIE_MAX_AGE_S = 30 * 86_400  # as long as Streamlit keeps a sign-in
KEEP_S = 600  # a sign-in takes minutes at most
MAX_PENDING = 10_000  # one per browser signing in at once; past this the oldest are forgotten
CALLBACK = "oauth2callback"

_pending: dict[str, tuple[str, float]] = {}
_lock = threading.Lock()


def local_link(link: str) -> str | None:
    """`link` when it names a page of this server (`/replay?call=…`), else None: never another site."""
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or not link.startswith("/") or link.startswith("//") or "\\" in link:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in link):  # a browser drops tabs and newlines: "/\t/x" is "//x"
        return None
    return link


def remember(browser: str | None, link: str) -> bool:
    """Keep `link` for the browser about to sign in; False when there is nothing to keep it under."""
    link = local_link(link)
    if not browser or link is None:
        return False
    now = time.monotonic()
    with _lock:
        for key in [k for k, (_, at) in _pending.items() if now - at > KEEP_S]:
            del _pending[key]
        while len(_pending) >= MAX_PENDING:  # oldest first: dicts keep insertion order
            del _pending[next(iter(_pending))]
        _pending[browser] = (link, now)
    return True


def take(browser: str | None) -> str | None:
    """The link kept for this browser (once), if it is fresh."""
    with _lock:
        link, at = _pending.pop(browser, (None, 0.0)) if browser else (None, 0.0)
    return link if link is not None and time.monotonic() - at <= KEEP_S else None


class ReturnToLink:
    """ASGI middleware: gives each browser its id cookie with the first page it loads, and sends the sign-in
    callback's redirect to the link that browser opened before signing in."""

    def __init__(self, app, base_path: str = "") -> None:
        self.app = app
        base = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.callback_path = f"{base}/{CALLBACK}"
        self.home = {f"{base}/", base or "/"}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        browser = HTTPConnection(scope).cookies.get(BROWSER_COOKIE)
        callback = scope["path"] == self.callback_path

        async def send_with_link(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not browser and headers.get("content-type", "").startswith("text/html"):
                    headers.append("set-cookie", f"{BROWSER_COOKIE}={secrets.token_urlsafe(18)}; Path=/; HttpOnly; "
                                                 f"SameSite=Lax; Max-Age={BROWSER_COOKIE_MAX_AGE_S}")
                if callback and message["status"] in (302, 303, 307) and headers.get("location") in self.home:
                    link = take(browser)
                    if link:
                        headers["location"] = link
            await send(message)

        await self.app(scope, receive, send_with_link)
