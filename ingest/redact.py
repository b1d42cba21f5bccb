"""Redaction of personal data (phone numbers, names, emails) before anything is stored.

Values become stable keyed hashes: the same number gives the same token under the same key, so calls can still
be joined and searched, and phone tokens keep the last 4 digits (`~3fa9c21b0d-7768`) for "last digits" search.
The key comes from CALLSCOPE_REDACT_KEY, else from a `redact.key` file created beside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from typing import Any

# Keys whose values are phone numbers in SDK payloads (INCOMING_CALL, OUTGOING_CALL_STARTED, DIAL_NUMBER,
# CALL_COMPLETED.engagementProperties).
PHONE_KEYS = frozenset({
    "fromNumber", "toNumber", "phoneNumber", "phone_number", "hs_call_from_number", "hs_call_to_number",
})
# ContactIdMatch.firstName/lastName, CompanyIdMatch.name.
NAME_KEYS = frozenset({"firstName", "lastName", "name"})
EMAIL_KEYS = frozenset({"email"})

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number in free text: "+" then 7+ digits (spaces, dots, dashes, brackets allowed between them), or a
# quoted run of 7-15 such digits. Bare digit runs are left alone: they are timestamps and ids.
PHONE_RE = re.compile(r"\+\d(?:[\s().-]{0,2}\d){6,}|(?<=\")\d(?:[\s().-]?\d){6,14}(?=\")")

REDACT_KEY_ENV = "CALLSCOPE_REDACT_KEY"


def load_key(key_dir: Path) -> bytes:
    env = os.environ.get(REDACT_KEY_ENV)
    if env:
        return env.encode()
    key_file = key_dir / "redact.key"
    if not key_file.exists():
        key_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return key_file.read_text().strip().encode()


class Redactor:
    def __init__(self, key: bytes):
        self._key = key

    def token(self, value: str) -> str:
        digest = hmac.new(self._key, value.strip().lower().encode(), hashlib.sha256).hexdigest()[:10]
        return f"~{digest}"

    def phone(self, value: str) -> str:
        digits = re.sub(r"\D", "", value)
        return f"{self.token(digits)}-{digits[-4:]}"

    def value(self, key: str, value: Any) -> Any:
        if not isinstance(value, str) or not value or value.startswith("~"):
            return value
        if key in PHONE_KEYS:
            return self.phone(value)
        if key in NAME_KEYS or key in EMAIL_KEYS:
            return self.token(value)
        if "@" in value or "+" in value:
            return self.text(value)
        return value

    def walk(self, obj: Any) -> Any:
        """A copy of `obj` with every personal value replaced; the input is not changed."""
        if isinstance(obj, dict):
            return {k: (self.walk(v) if isinstance(v, (dict, list)) else self.value(k, v)) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.walk(v) if isinstance(v, (dict, list)) else self.value("", v) for v in obj]
        return obj

    def text(self, raw: str) -> str:
        """Scrub a line that could not be parsed (kept in rejects): emails and phone-like digit runs."""
        raw = EMAIL_RE.sub(lambda m: self.token(m.group()), raw)
        return PHONE_RE.sub(lambda m: self.phone(m.group()), raw)
