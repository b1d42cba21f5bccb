"""Who may see what: the sign-in settings, the allow-lists, and whether the server may start as configured.

Settings live beside Streamlit's own `[auth]` in `.streamlit/secrets.toml` (never committed):

    [auth]                       # Streamlit's OIDC sign-in (st.login), as Streamlit documents it
    redirect_uri = "https://callscope.example.com/oauth2callback"
    cookie_secret = "a long random string"
    client_id = "…"
    client_secret = "…"
    server_metadata_url = "https://idp.example.com/.well-known/openid-configuration"

    [callscope]
    allowed = ["ringo-voice.example", "ada@partner.example"]   # who may sign in: emails and/or domains
    personal_data = ["support-leads@ringo-voice.example"]       # who sees numbers, names and emails in full
    access_contact = "it-help@ringo-voice.example"               # whom the refusal tells people to ask

An entry with an `@` is one email address; one without is a domain (`ringo-voice.example` or `@ringo-voice.example`)
and admits the addresses of exactly that domain. Case does not matter. An email the identity provider says is not
verified (`email_verified: false`) is never admitted. No `[auth]` at all means local use: the server must then listen
on loopback only (`server.address` in `.streamlit/config.toml`), unless CALLSCOPE_SERVE_WITHOUT_SIGNIN=1 says
otherwise on purpose. No Streamlit here: this module only reads the mappings it is given.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
SETTINGS_SECTION = "callscope"
OVERRIDE_ENV = "CALLSCOPE_SERVE_WITHOUT_SIGNIN"
LOCAL_AUTHOR = "local"  # who wrote a note or a tag when nobody signs in


def _entries(value: Any) -> tuple[str, ...]:
    """A setting's emails and domains, lowercased, a leading `@` of a domain dropped: a list, or one string."""
    items = [value] if isinstance(value, str) else list(value or ())
    cleaned = (str(item).strip().lower() for item in items)
    return tuple(item.removeprefix("@") if item.count("@") == 1 and item.startswith("@") else item
                 for item in cleaned if item)


def _matches(email: str, entries: tuple[str, ...]) -> bool:
    email = email.strip().lower()
    _, at, domain = email.rpartition("@")
    return bool(at) and any(email == entry if "@" in entry else domain == entry for entry in entries)


def unverified(email_verified: object) -> bool:
    return str(email_verified).strip().lower() == "false"


@dataclass(frozen=True)
class Access:
    """Sign-in as configured: whether it is on, and who may enter and see personal data."""

    signin: bool
    allowed: tuple[str, ...] = ()
    personal_data: tuple[str, ...] = ()
    contact: str | None = None

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, Any]) -> Access:
        settings = secrets.get(SETTINGS_SECTION) or {}
        return cls(signin=bool(secrets.get("auth")), allowed=_entries(settings.get("allowed")),
                   personal_data=_entries(settings.get("personal_data")),
                   contact=str(settings["access_contact"]) if settings.get("access_contact") else None)

    def admits(self, email: str | None, email_verified: object = None) -> bool:
        """Whether a signed-in person may see call data. `email_verified` as the provider sent it: absent (None)
        is not a refusal (Entra never sends it), false is (some providers send the string "false")."""
        return bool(email) and not unverified(email_verified) and _matches(email, self.allowed)

    def shows_personal(self, email: str | None) -> bool:
        """Whether numbers, names and emails show in full: always without sign-in (local use), else by the list."""
        return not self.signin or (bool(email) and _matches(email, self.personal_data))


def is_loopback(address: str | None) -> bool:
    """`127.0.0.1`, `::1`, `localhost`; an empty address means every interface."""
    if not address:
        return False
    if address.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: whatever it resolves to, not known to be loopback


def start_problem(address: str | None, secrets: Mapping[str, Any], override: bool = False) -> str | None:
    """Why the server must not start as configured (a sentence saying what to configure), or None."""
    auth = secrets.get("auth")
    if auth:
        missing = [key for key in AUTH_KEYS if not auth.get(key)]
        if missing:
            return (f"sign-in is configured in .streamlit/secrets.toml but [auth] lacks {', '.join(missing)}. "
                    "Add them (see the README's Sign-in section), or remove [auth] for local use")
        if not _entries((secrets.get(SETTINGS_SECTION) or {}).get("allowed")):
            return ("sign-in is configured but nobody may enter: list the allowed emails or domains as "
                    "`allowed = [\"your-company.example\"]` under [callscope] in .streamlit/secrets.toml")
        return None
    if is_loopback(address) or override:
        return None
    where = f"on {address}" if address else "on every network interface"
    return (f"refusing to serve call data {where} without sign-in. Configure sign-in ([auth] and [callscope] in "
            f".streamlit/secrets.toml, see the README's Sign-in section), serve on 127.0.0.1 "
            f"(`--server.address 127.0.0.1`), or set {OVERRIDE_ENV}=1 if exposing the data is intended")
