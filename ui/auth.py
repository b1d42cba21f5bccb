"""Sign-in on every page (Streamlit's OIDC: st.login, st.user, st.logout), before anything is read from the store.

`gate()` runs first in every session's run (app.py): without sign-in configured it draws the "local use only"
banner and lets the page run; with it, a signed-out person sees only the sign-in, a signed-in person outside the
allow-list only the refusal, and an allowed person the page, with their account in the sidebar. `viewer()` says who
is looking: whether personal data shows in full, and who signs notes and tags. Settings: ui/access.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import streamlit as st

from analytics.format import md_escape
from ui import strings
from ui.access import LOCAL_AUTHOR, Access, unverified
from ui.return_link import BROWSER_COOKIE, remember


@dataclass(frozen=True)
class Viewer:
    email: str | None     # None: not signed in, or sign-in is not configured (local use)
    allowed: bool
    personal_data: bool   # phone numbers, names and emails in full
    signed_in: bool = False

    @property
    def author(self) -> str:
        """Who a note or tag is recorded as written by: the signed-in email, else LOCAL_AUTHOR."""
        return self.email or LOCAL_AUTHOR


def _secrets() -> Mapping[str, Any]:
    return st.secrets if st.secrets.load_if_toml_exists() else {}


def access() -> Access:
    return Access.from_secrets(_secrets())


def viewer() -> Viewer:
    """Who this session shows data to, as sign-in and the allow-lists say."""
    rules = access()
    if not rules.signin:
        return Viewer(None, allowed=True, personal_data=True)
    if not st.user.get("is_logged_in"):
        return Viewer(None, allowed=False, personal_data=False)
    email = str(st.user.get("email") or "").strip().lower() or None
    allowed = rules.admits(email, st.user.get("email_verified"))
    return Viewer(email, allowed=allowed, personal_data=allowed and rules.shows_personal(email), signed_in=True)


def shows_personal() -> bool:
    return viewer().personal_data


def this_link() -> str:
    """The page and query this session shows (`/replay?call=…&step=3`): where to come back to after signing in."""
    path = urlsplit(st.context.url or "").path or "/"
    query = urlencode(st.query_params.to_dict())
    return f"{path}?{query}" if query else path


def gate(pages: Callable[[], dict]) -> Viewer:
    """Draw what a person may see before the page; stop the run unless they may see call data."""
    rules, who = access(), viewer()
    if not rules.signin:
        st.caption(strings.LOCAL_ONLY)
        return who
    if who.allowed:
        with st.sidebar:
            st.caption(strings.SIGNED_IN_AS.format(email=md_escape(who.email)))
            if not who.personal_data:
                st.caption(strings.MASKED_FOR_YOU)
            if st.button(strings.SIGN_OUT, key="auth_sign_out", icon=":material/logout:"):
                st.logout()
        return who
    st.navigation(pages(), position="hidden")  # the link stays the page's; nothing of the page runs
    if who.signed_in:
        _refused(rules, who.email, unverified(st.user.get("email_verified")))
    else:
        _signed_out()
    st.stop()


def _signed_out() -> None:
    st.title(strings.SIGNIN_TITLE)
    st.markdown(strings.SIGNIN_WHY)
    if st.button(strings.SIGNIN_BUTTON, type="primary", icon=":material/login:", key="auth_sign_in"):
        remember(st.context.cookies.get(BROWSER_COOKIE), this_link())
        st.login()
    st.caption(strings.SIGNIN_RETURNS)


def _refused(rules: Access, email: str | None, unverified: bool) -> None:
    st.title(strings.REFUSED_TITLE)
    if email is None:
        st.error(strings.REFUSED_NO_EMAIL)
    else:
        st.error(strings.REFUSED_UNVERIFIED.format(email=md_escape(email)) if unverified
                 else strings.REFUSED.format(email=md_escape(email)))
    st.markdown(strings.REFUSED_ASK.format(contact=md_escape(rules.contact)) if rules.contact
                else strings.REFUSED_ASK_ADMIN)
    if st.button(strings.SIGN_OUT_OTHER, key="auth_sign_out", icon=":material/logout:"):
        st.logout()
