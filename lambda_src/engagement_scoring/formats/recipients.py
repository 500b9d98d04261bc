"""User keys derived from a recipient's e-mail address or phone number (RECIPIENT_USER_KEY).

Only when the operator opts in: `address` keys the user by the normalized address, `hashed_address` by
an HMAC-SHA256 of it (the key comes from SSM), so the stored key is not the address. Either way the key
is prefixed by its kind (`email:` / `sms:`, `email-hmac:` / `sms-hmac:` + 32 hex), so it never collides
with a tag value and the sinks know it stands for an address. Nothing here logs or returns an address
in an error: an address that cannot be normalized is simply not a key.
"""

from __future__ import annotations

import hashlib
import hmac

from engagement_scoring.core.events import MAX_USER_KEY_BYTES, FormatSettings
from engagement_scoring.formats.fields import fits

EMAIL = "email"
SMS = "sms"
# RFC 5321 limits a path to 256 octets; no real address is longer.
MAX_EMAIL_CHARS = 254
_HASH_HEX_CHARS = 32
_PHONE_SEPARATORS = str.maketrans("", "", " -().")


def normalized_email(value: object) -> str | None:
    """`"Name" <Addr@Example.com>` or `addr@example.com` -> `addr@example.com`; None if not an address.

    Lower-cased as a whole: mailbox names are case-insensitive at every provider this product meets,
    and one person must not become two users by the case a header happened to use.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(">") and "<" in text:
        text = text[text.rindex("<") + 1 : -1].strip()
    if not 3 <= len(text) <= MAX_EMAIL_CHARS or text.count("@") != 1:
        return None
    local, _, domain = text.partition("@")
    if not local or not domain or "." not in domain or any(char.isspace() or char in "<>," for char in text):
        return None
    return text.lower()


def normalized_phone(value: object) -> str | None:
    """E.164 (`+` and 2 to 15 digits, the first not 0) after dropping spaces, dashes, dots and brackets."""
    if not isinstance(value, str):
        return None
    text = value.strip().translate(_PHONE_SEPARATORS)
    digits = text[1:]
    if not text.startswith("+") or not 2 <= len(digits) <= 15 or not digits.isascii() or not digits.isdigit():
        return None
    if digits[0] == "0":
        return None
    return text


def recipient_user_key(kind: str, address: str, settings: FormatSettings) -> str | None:
    """The user key for a normalized address under RECIPIENT_USER_KEY, or None when it is `none`."""
    mode = settings.recipient_user_key
    if mode == "address":
        key = f"{kind}:{address}"
        return key if fits(key, MAX_USER_KEY_BYTES) else None
    if mode == "hashed_address" and settings.recipient_hash_key:
        digest = hmac.new(settings.recipient_hash_key, address.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{kind}-hmac:{digest[:_HASH_HEX_CHARS]}"
    return None
