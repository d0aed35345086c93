"""Compile the message catalogs (.po → .mo) with polib, so no gettext tools are needed; the
language of a websocket's browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polib

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def compile_catalogs(locale_dir: Path = LOCALE_DIR, force: bool = False) -> list[Path]:
    written = []
    for po_path in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if force or not mo_path.exists() or mo_path.stat().st_mtime < po_path.stat().st_mtime:
            polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
            written.append(mo_path)
    return written


def scope_language(scope: dict[str, Any]) -> str:
    """The language Django's ``LocaleMiddleware`` would pick for this websocket's browser
    (the language cookie, then ``Accept-Language``), so that what a socket renders matches the
    pages around it."""
    from django.http import HttpRequest
    from django.utils import translation

    request = HttpRequest()
    request.COOKIES = dict(scope.get("cookies") or {})
    for name, value in scope.get("headers") or []:
        if name == b"accept-language":
            request.META["HTTP_ACCEPT_LANGUAGE"] = value.decode("latin-1")
    return translation.get_language_from_request(request)
