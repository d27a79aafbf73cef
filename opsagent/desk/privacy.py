"""Masking of requesters' contact details (服务禁忌: 不得泄露用户隐私) wherever they leave the desk for
third parties: reports, notifications, exports made for others. ``138****1234``, ``z***@example.com``."""

from __future__ import annotations

import re
from typing import Any

_PHONE_IN_TEXT = re.compile(r"(?<!\d)(\+?\d[\d -]{6,18}\d)(?!\d)")
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DATE_TIME = re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?: \d{1,2}(?=:))?|\d{1,2}(?=:)")  # 2026-12-06, 2026-12-06 19:…


def mask_phone(phone: str | None) -> str:
    """Keep the first three and last four digits of a mobile number (138****1234); shorter numbers
    keep only their last two."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 13 and digits.startswith("86"):  # +86 country code
        digits = digits[2:]
    if len(digits) >= 11:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) >= 4:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)


def mask_email(email: str | None) -> str:
    """Keep the first character of the local part and the domain (z***@example.com)."""
    if not email:
        return ""
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return (local[:1] or "") + "***@" + domain


def mask_text(text: str) -> str:
    """Phone numbers and email addresses inside free text (a symptom someone typed) masked."""
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(_phone, text)


def _phone(found: re.Match[str]) -> str:
    """A number that may be a phone masked; a date (and the hour after it) kept, the rest looked at again."""
    text = found.group(1)
    date = _DATE_TIME.match(text)
    if date is not None:
        return date.group(0) + _PHONE_IN_TEXT.sub(_phone, text[date.end() :])
    return mask_phone(text)


PERSON_SOURCES = frozenset({"phone", "email", "portal", "api"})  # tickets people raised (not alerts or traps)


def for_third_parties(text: str, source: str) -> str:
    """Text of an incident as it may leave for third parties (notifications, reports): a person-raised
    ticket's free text with phones and emails masked; an alert's text as it is (its numbers are data)."""
    return mask_text(text) if text and source in PERSON_SOURCES else text


def masked_requester(row: dict[str, Any]) -> dict[str, Any]:
    """A requester record fit for a third party: contact details masked."""
    return row | {"phone": mask_phone(row.get("phone")), "email": mask_email(row.get("email"))}
