"""User references in allow / block lists: phone numbers or business-scoped user ids (BSUIDs)."""

from __future__ import annotations

import re

_BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
_PHONE_NOISE = re.compile(r"[\s\-().]")


def normalize_user_ref(value: str) -> str:
    """`+7 (900) 000-00-00` -> `79000000000`; BSUIDs (`US.1349...`) are kept as they are."""
    text = value.strip()
    if _BSUID.fullmatch(text):
        return text
    digits = _PHONE_NOISE.sub("", text).removeprefix("+")
    if not re.fullmatch(r"[0-9]{5,20}", digits):  # ASCII only: \d also takes other scripts' digits
        raise ValueError(f"{value!r} is neither a phone number nor a business-scoped user id")
    return digits
