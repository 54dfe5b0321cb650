"""Personal-data protection: pseudonymous user ids and masking of contact data in texts.

Pure functions, no I/O. Storage calls both before anything reaches the disk, so a raw
Telegram id, phone number, ID-card number or e-mail address is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["MASKS", "hash_user_id", "mask_personal_data"]

#: The placeholder that replaces each kind of personal data.
MASKS: dict[str, str] = {
    "email": "[email]",
    "id_card": "[id-card]",
    "card_number": "[card-number]",
    "mobile": "[phone]",
    "landline": "[phone]",
}

# Residents typing with a Chinese input method often produce full-width digits, "＠" and
# "＋". Matching runs on a shadow copy where those become ASCII; the translation is one
# character to one character, so match positions in the shadow are positions in the
# original text.
_SHADOW: dict[int, int] = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

_LOCAL = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]"
_SEP = r"[ -]?"

# One alternation, tried left to right at each position: an e-mail address wins over the
# digits inside it ("13812345678@example.com" is masked whole). Digit patterns only match
# a whole run of digits, never part of a longer number, so amounts, years and counts
# ("19637件", "2023年—2035年") are left alone.
_PERSONAL = re.compile(
    # The look-behind makes the local part start at the beginning of its run, so a long
    # run of address characters without "@" is scanned once, not once per position.
    rf"(?P<email>(?<!{_LOCAL}){_LOCAL}+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
    # 18-digit resident ID card: 17 digits and a check digit or X, also typed as 6-8-4.
    r"|(?P<id_card>(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{6} [0-9]{8} [0-9]{3}[0-9Xx]"
    # The 15-digit first-generation card.
    r"|[0-9]{15})(?![0-9]))"
    # Other runs of 16-19 digits are bank card numbers, personal data as well.
    r"|(?P<card_number>(?<![0-9])[0-9]{16,19}(?![0-9]))"
    # Mainland mobile: 1[3-9]X XXXX XXXX, optionally +86 / 0086 / (+86) in front.
    rf"|(?P<mobile>(?<![0-9])(?:\(?(?:\+|00)?86\)?{_SEP})?1[3-9][0-9]{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}(?![0-9]))"
    # Landline: area code 0XX or 0XXX (optionally in brackets), then 7-8 digits.
    rf"|(?P<landline>(?<![0-9])\(?0[1-9][0-9]{{1,2}}\)?{_SEP}[0-9]{{7,8}}(?![0-9]))"
)


def hash_user_id(user_id: int, secret: str) -> str:
    """Pseudonymise a Telegram user id.

    Args:
        user_id: The raw Telegram user id.
        secret: The deployment's secret key; without it the hash cannot be reversed by
            trying every plausible id.

    Returns:
        The HMAC-SHA256 of the id as 64 lower-case hex digits.
    """
    return hmac.new(secret.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()


def mask_personal_data(text: str) -> str:
    """Replace phone numbers, ID-card and bank card numbers and e-mail addresses.

    Masking is idempotent: the placeholders contain no digits and no "@".

    Args:
        text: Any text a resident typed.

    Returns:
        The text with each piece of personal data replaced by its placeholder from
        `MASKS`; everything else unchanged.
    """
    shadow = text.translate(_SHADOW)
    parts: list[str] = []
    end = 0
    for match in _PERSONAL.finditer(shadow):
        kind = match.lastgroup
        assert kind is not None  # every alternative is a named group
        parts.append(text[end : match.start()])
        parts.append(MASKS[kind])
        end = match.end()
    if not parts:
        return text
    parts.append(text[end:])
    return "".join(parts)
