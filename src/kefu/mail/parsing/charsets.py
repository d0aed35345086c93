"""Charsets: labels as mail clients write them, and the Python codecs they mean."""

from __future__ import annotations

import codecs
import functools
import re

_ALIASES: dict[str, str | None] = {
    # Chinese clients label GBK (and GB18030) text GB2312; GB18030 is a superset of all three.
    **dict.fromkeys(
        (
            "gb2312",
            "gbk",
            "x-gbk",
            "cp936",
            "ms936",
            "windows-936",
            "gb_2312-80",
            "gb2312-80",
            "gb_2312",
            "euc-cn",
            "x-euc-cn",
            "euccn",
            "csgb2312",
            "chinese",
            "iso-ir-58",
            "gb18030",
            "gb-18030",
            "936",
        ),
        "gb18030",
    ),
    # Big5 as sent in Hong Kong and Taiwan includes the HKSCS characters.
    **dict.fromkeys(
        (
            "big5",
            "big-5",
            "x-big5",
            "cn-big5",
            "csbig5",
            "big5-hkscs",
            "big5hkscs",
            "cp950",
            "x-x-big5",
        ),
        "big5hkscs",
    ),
    **dict.fromkeys(
        (
            "ks_c_5601-1987",
            "ks_c_5601",
            "ks_c_5601-1989",
            "euc-kr",
            "euckr",
            "korean",
            "csksc56011987",
            "ksc5601",
            "windows-949",
            "cp949",
            "uhc",
        ),
        "cp949",
    ),
    **dict.fromkeys(
        (
            "shift_jis",
            "shift-jis",
            "sjis",
            "x-sjis",
            "ms_kanji",
            "csshiftjis",
            "windows-31j",
            "cp932",
            "x-ms-cp932",
        ),
        "cp932",
    ),
    **dict.fromkeys(("iso-2022-jp", "csiso2022jp", "iso2022-jp", "jis"), "iso2022_jp_ext"),
    # As browsers do (WHATWG): these labels mean windows-1252 in practice.
    **dict.fromkeys(
        (
            "us-ascii",
            "ascii",
            "ansi_x3.4-1968",
            "iso-8859-1",
            "iso8859-1",
            "iso_8859-1",
            "latin1",
            "latin-1",
            "l1",
            "cp819",
            "ibm819",
            "iso-ir-100",
            "windows-1252",
            "cp1252",
            "x-cp1252",
            "us",
            "iso_8859-1:1987",
            "csisolatin1",
        ),
        "cp1252",
    ),
    **dict.fromkeys(
        ("utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8", "utf-8-sig"), "utf-8"
    ),
    "windows-874": "cp874",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "tis-620": "cp874",
    "x-unknown": None,
    "unknown-8bit": None,
    "unknown": None,
    "x-user-defined": None,
    "default": None,
    "charset": None,
}
_UNSAFE_CODECS = {
    "idna",
    "punycode",
    "unicode_escape",
    "raw_unicode_escape",
    "undefined",
    "mbcs",
    "oem",
}
_SEVEN_BIT = {
    "iso2022_jp_ext",
    "iso2022_jp",
    "iso2022_jp_1",
    "iso2022_jp_2",
    "iso2022_jp_3",
    "iso2022_jp_2004",
    "iso2022_kr",
    "hz",
    "utf-7",
}
_CJK_CODECS = {"gb18030", "big5hkscs", "cp949", "cp932", "euc_jp", "euc_jis_2004"}
_SINGLE_BYTE_LATIN = {"cp1252", "latin-1", "iso8859-15", "iso8859-2", "cp1250"}
_LABEL_JUNK = re.compile(r"[\s\"';]+")


@functools.lru_cache(maxsize=256)
def normalize_charset(label: str | None) -> str | None:
    """The Python codec to use for a MIME charset label, or None when it is missing/unknown."""
    if not label:
        return None
    key = _LABEL_JUNK.sub("", label.lower()).split("*", 1)[0]
    if not key:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        info = codecs.lookup(key)
    except (LookupError, ValueError):
        return None
    name = info.name
    if not getattr(info, "_is_text_encoding", True) or name in _UNSAFE_CODECS:
        return None
    return _ALIASES.get(name, name)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None
    except Exception:  # some codecs raise other errors on hostile input
        return None
