"""Signed tokens in the links care sends: unsubscribe, survey, open tracking.

A token is the row's id signed with the secret key and a salt per use, so it cannot be made
up or turned into another kind of token; single use (surveys) is the row's job.
"""

from __future__ import annotations

from django.core import signing

UNSUBSCRIBE = "kefu.care.unsubscribe"
SURVEY = "kefu.care.survey"
OPENED = "kefu.care.opened"


def make(salt: str, pk: int) -> str:
    return signing.Signer(salt=salt).sign(str(pk))


def read(salt: str, token: str) -> int | None:
    try:
        value = signing.Signer(salt=salt).unsign(token)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None
