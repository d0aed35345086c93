"""Parsing raw email into what kefu needs, repairing what real mail clients get wrong.

Contract (the rest of ``kefu.mail`` relies on it): :func:`parse` never raises on any input;
whatever it could not understand is listed in ``ParsedEmail.defects``.

The package holds one concern per module: ``model`` (what :func:`parse` returns),
``charsets`` (labels to codecs), ``plausibility`` (choosing between decodings), ``decoding``
(:func:`decode_bytes` and its repairs), ``headers`` (header text, parameters, ids, dates),
``addresses``, ``mime`` (parts, bodies, attachments), ``reports`` (bounces) and ``core``
(:func:`parse` itself).
"""

from kefu.mail.parsing.addresses import clean_address
from kefu.mail.parsing.charsets import normalize_charset
from kefu.mail.parsing.core import parse
from kefu.mail.parsing.decoding import decode_bytes
from kefu.mail.parsing.headers import decode_header_text, header_params, one_line
from kefu.mail.parsing.model import DeliveryStatus, ParsedAttachment, ParsedEmail

__all__ = [
    "DeliveryStatus",
    "ParsedAttachment",
    "ParsedEmail",
    "clean_address",
    "decode_bytes",
    "decode_header_text",
    "header_params",
    "normalize_charset",
    "one_line",
    "parse",
]
