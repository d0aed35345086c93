"""Unit tests for kefu.mail.parsing: each charset repair rule, header safety, attachments,
limits, bounces, and the never-raise contract (hypothesis). Messages are built by hand, byte
for byte, as mail clients send them."""

from __future__ import annotations

import base64
import email.policy
import os
import quopri
from datetime import UTC, datetime
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.mail.parsing import (
    ParsedEmail,
    clean_address,
    decode_bytes,
    decode_header_text,
    header_params,
    normalize_charset,
    parse,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mail"
CORPUS_FILES = sorted(CORPUS.rglob("*.eml")) if CORPUS.exists() else []
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def word(text: str, charset: str, data: bytes | None = None) -> str:
    """An RFC 2047 B encoded-word; ``data`` overrides the bytes (to build mislabelled words)."""
    return f"=?{charset}?B?{b64(data if data is not None else text.encode(charset))}?="


def message(*headers: str, body: bytes = b"", charset: str | None = None, cte: str = "") -> bytes:
    """A single-part text/plain message; headers given as "Name: value" strings."""
    lines = [h.encode("utf-8", "surrogateescape") for h in headers]
    if charset is not None or cte:
        lines.append(b"MIME-Version: 1.0")
        ctype = "text/plain" + (f'; charset="{charset}"' if charset else "")
        lines.append(f"Content-Type: {ctype}".encode())
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def multipart(
    subtype: str, parts: list[bytes], *headers: str, boundary: str = "BOUNDARY", params: str = ""
) -> bytes:
    head = [h.encode() for h in headers] + [
        b"MIME-Version: 1.0",
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"{params}'.encode(),
    ]
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return (
        b"\r\n".join(head) + b"\r\n\r\nPreamble.\r\n" + body + b"--" + boundary.encode() + b"--\r\n"
    )


def part(ctype: str, body: bytes, *headers: str) -> bytes:
    return b"\r\n".join([f"Content-Type: {ctype}".encode(), *[h.encode() for h in headers]]) + (
        b"\r\n\r\n" + body
    )


# ---------------------------------------------------------------------------------------------
# charset labels and repair rules
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("GB2312", "gb18030"),
        ("gbk", "gb18030"),
        ("x-gbk", "gb18030"),
        ("cp936", "gb18030"),
        ('"gb2312"', "gb18030"),
        ("Big5", "big5hkscs"),
        ("big5-hkscs", "big5hkscs"),
        ("ks_c_5601-1987", "cp949"),
        ("Shift_JIS", "cp932"),
        ("iso-8859-1", "cp1252"),
        ("us-ascii", "cp1252"),
        ("UTF8", "utf-8"),
        ("x-unknown", None),
        ("no-such-charset", None),
        ("base64", None),  # a bytes-to-bytes codec is not a charset
        ("", None),
        (None, None),
    ],
)
def test_charset_labels_are_normalized(label, codec):
    assert normalize_charset(label) == codec


def test_gb2312_label_with_gbk_characters_decodes_as_gb18030():
    text = "咨询:镕钢保温杯的保修期"  # 镕 is GBK, not GB2312
    with pytest.raises(UnicodeEncodeError):
        text.encode("gb2312")
    raw = message(
        f"Subject: {word(text, 'gb2312', text.encode('gbk'))}",
        body=base64.b64encode(f"您好,{text}多久?".encode("gbk")),
        charset="gb2312",
        cte="base64",
    )
    parsed = parse(raw)
    assert parsed.subject == text
    assert parsed.text == f"您好,{text}多久?"


@pytest.mark.parametrize("label", ["gbk", "x-gbk", "cp936", "GB18030"])
def test_gbk_family_8bit_bodies(label):
    body = "空调已经维修三次还是不制冷,要求退货退款。€"
    parsed = parse(message("Subject: x", body=body.encode("gb18030"), charset=label, cte="8bit"))
    assert parsed.text == body


def test_big5_decodes_as_big5_hkscs_quoted_printable():
    body = "請問佢哋幾時嘅貨到?咗"  # 嘅 and 咗 exist only in HKSCS
    with pytest.raises(UnicodeEncodeError):
        body.encode("big5")
    raw = message(
        f"Subject: {word('請問退貨流程', 'big5')}",
        body=quopri.encodestring(body.encode("big5hkscs")),
        charset="big5",
        cte="quoted-printable",
    )
    parsed = parse(raw)
    assert parsed.subject == "請問退貨流程"
    assert parsed.text == body


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("你好,请问我的订单什么时候发货?谢谢", "utf-8"),
        ("你好,请问我的订单什么时候发货?谢谢", "gb18030"),
        ("您好,請問我的訂單什麼時候出貨?謝謝", "big5hkscs"),
        ("Formação FrenetikPolis: Mega Campanha Final Verão", "latin-1"),
        ("Grüße aus München, schöne Größe", "latin-1"),
    ],
)
@pytest.mark.parametrize("label", [None, "x-unknown"])
def test_missing_or_unknown_charset_is_guessed(text, codec, label):
    raw = message("Subject: x", body=text.encode(codec), charset=label, cte="8bit")
    assert parse(raw).text == text
    assert decode_bytes(text.encode(codec), label) == text


def test_label_with_utf8_bytes_decodes_as_utf8():
    # the mail_parser corpus: a GB2312 label on UTF-8 bytes
    body = "你好！我公司可代开各类增值税发票，电话：13662615434张经理"
    for label in ("gb2312", "big5", "iso-8859-1", "windows-1252", "shift_jis"):
        parsed = parse(message("Subject: x", body=body.encode(), charset=label, cte="8bit"))
        assert parsed.text == body, label


def test_short_gbk_text_valid_as_utf8_is_compared_not_assumed():
    # b"\xd6\xd0" is 中 in GBK and invalid UTF-8; b"\xc4\xe3" too: neither is a UTF-8 trap
    assert decode_bytes("中文".encode("gbk"), "gb2312") == "中文"
    assert decode_bytes("中文".encode(), "gb2312") == "中文"


def test_latin_label_on_chinese_bytes_gets_a_second_opinion():
    body = "这是中文的邮件内容，请尽快处理我的退款申请，谢谢"
    parsed = parse(message("Subject: x", body=body.encode("gbk"), charset="iso-8859-1", cte="8bit"))
    assert parsed.text == body
    # while real Latin-1 stays Latin-1
    latin = "Bonjour, voilà ma réclamation à propos de la commande numéro 42"
    assert decode_bytes(latin.encode("latin-1"), "iso-8859-1") == latin


def test_double_encoded_big5_is_restored():
    # Big5 bytes read as Latin-1 and stored as UTF-8 (seen in the imap_tools corpus)
    original = "大補泡麵專賣 大家說英語 每日聽"
    doubled = original.encode("big5").decode("latin-1").encode("utf-8")
    raw = message(f"Subject: {doubled.decode()}", body=doubled, charset="big5", cte="8bit")
    parsed = parse(raw)
    assert parsed.subject == original
    assert parsed.text == original


def test_utf8_read_as_latin1_is_restored():
    assert decode_bytes("CafÃ© crÃ¨me".encode(), "utf-8") == "Café crème"


def test_cp1252_punctuation_and_latin1_fallback():
    assert decode_bytes(b"\x93quoted\x94 \x80 5", "iso-8859-1") == "“quoted” € 5"
    assert decode_bytes(b"caf\xe9 \x81", "iso-8859-1") == "café \x81"


def test_seven_bit_charsets_and_utf16():
    assert decode_bytes("まみむめも".encode("iso2022_jp"), "iso-2022-jp") == "まみむめも"
    assert decode_bytes("你好".encode("utf-16"), "utf-16") == "你好"


# ---------------------------------------------------------------------------------------------
# headers
# ---------------------------------------------------------------------------------------------


def test_encoded_words_split_inside_a_character_are_joined():
    data = "退货申请".encode("gbk")
    subject = f"=?gb2312?B?{b64(data[:3])}?= =?gb2312?B?{b64(data[3:])}?="
    assert parse(message(f"Subject: {subject}")).subject == "退货申请"


def test_q_encoding_mixed_with_plain_text_and_several_charsets():
    subject = (
        f"Re: =?utf-8?Q?caf=C3=A9_au_lait?= and {word('請問', 'big5')} {word('订单', 'gb2312')} end"
    )
    assert decode_header_text(subject) == "Re: café au lait and 請問订单 end"


def test_raw_8bit_subject_uses_the_body_charset():
    subject = "投诉:维修三次仍未修好"
    raw = (
        b"Subject: " + subject.encode("gbk") + b"\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="gbk"\r\n'
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "内容".encode("gbk")
    )
    parsed = parse(raw)
    assert parsed.subject == subject
    assert parsed.text == "内容"


def test_header_injection_is_impossible():
    evil = "Hello\r\nBcc: victim@example.com\r\n\r\nbody"
    raw = message(
        f"Subject: {word(evil, 'utf-8')}",
        f"From: {word('Mallory' + chr(10) + 'To: x@y.z', 'utf-8')} <m@example.com>",
        body=b"x",
    )
    parsed = parse(raw)
    for value in (parsed.subject, parsed.from_name, *parsed.headers.values()):
        assert "\r" not in value and "\n" not in value
    assert parsed.subject == "Hello Bcc: victim@example.com body"
    assert parsed.from_address == "m@example.com"


def test_subject_is_truncated_and_single_line():
    parsed = parse(message("Subject: " + "长" * 400 + "\r\n\tcontinued", body=b"x"))
    assert len(parsed.subject) == 255
    subject = parse(message("Subject: one\r\n two\r\n\tthree", body=b"x")).subject
    assert subject == "one two three"


def test_addresses_are_lower_cased_and_loosely_validated():
    parsed = parse(
        message(
            f"From: {word('王芳', 'gb2312')} <Wang.Fang@Example.CN>",
            "Reply-To: <Service@Example.CN>",
            'To: "Support, Team" <support@kefu.test>, other@kefu.test',
            "Cc: alice@example.com <bob@example.com>, group: carol@example.com;",
            body=b"x",
        )
    )
    assert (parsed.from_name, parsed.from_address) == ("王芳", "wang.fang@example.cn")
    assert parsed.reply_to == "service@example.cn"
    assert parsed.to == [("Support, Team", "support@kefu.test"), ("", "other@kefu.test")]
    assert parsed.cc == [("alice@example.com", "bob@example.com"), ("", "carol@example.com")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a@b.c", "a@b.c"),
        (" <A@B.C> ", "a@b.c"),
        ("a@@b.c", ""),
        ("a@b@c", ""),
        ("no-at-sign", ""),
        ("a b@c.d", ""),
        ("@b.c", ""),
        ("a@", ""),
        ("a@b.c\r\nBcc: x@y", ""),
    ],
)
def test_clean_address(value, expected):
    assert clean_address(value) == expected


def test_invalid_from_is_empty_with_a_defect():
    parsed = parse(message("From: just a name", "Subject: hi", body=b"x"))
    assert parsed.from_address == ""
    assert parsed.from_name == "just a name"
    assert any("sender" in d for d in parsed.defects)


def test_message_ids_references_and_date():
    parsed = parse(
        message(
            "Message-ID:  < abc@example.com >",
            "In-Reply-To: <first@kefu.test>",
            "References: <root@kefu.test>\r\n <first@kefu.test> junk",
            "Date: Fri, 20 Nov 2026 17:30:00 +0800",
            body=b"x",
        )
    )
    assert parsed.message_id == "abc@example.com"
    assert parsed.in_reply_to == ["first@kefu.test"]
    assert parsed.references == ["root@kefu.test", "first@kefu.test"]
    assert parsed.date == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert parsed.date is not None and parsed.date.tzinfo is not None


def test_dates_without_zone_are_aware_and_bad_dates_are_none():
    assert parse(message("Date: Fri, 20 Nov 2026 17:30:00 -0000", body=b"")).date == datetime(
        2026, 11, 20, 17, 30, tzinfo=UTC
    )
    assert parse(message("Date: Wed, 15 Dec 2010    59:10 -0500", body=b"")).date is None
    assert parse(message("Date: yesterday", body=b"")).date is None


def test_headers_dict_has_the_loop_protection_headers():
    names = [
        "Auto-Submitted: auto-replied",
        "Precedence: bulk",
        "List-Id: <list.example.com>",
        "List-Unsubscribe: <mailto:u@example.com>",
        "X-Auto-Response-Suppress: All",
        "X-Autoreply: yes",
        "X-Autorespond: yes",
        "Return-Path: <bounce@example.com>",
        "X-Loop: support@kefu.test",
        "X-Kefu-Loop: 1",
        "X-Mailer: Foxmail 7",
        "X-Failed-Recipients: nobody@example.com",
        f"X-Note: {word('自动回复', 'gb2312')}",
    ]
    parsed = parse(message(*names, body=b"x", charset="utf-8"))
    for header in names:
        key = header.split(":", 1)[0].lower()
        assert key in parsed.headers
    assert parsed.headers["auto-submitted"] == "auto-replied"
    assert parsed.headers["content-type"] == 'text/plain; charset="utf-8"'
    assert parsed.headers["x-note"] == "自动回复"


def test_malformed_headers_never_raise():
    raw = (
        b"From: <<<@@>>>\r\n"
        b'To: ,,,;;;"unclosed\r\n'
        b"Subject: =?utf-8?B?####?= =?x-none?Q?=ZZ?= =?gb2312?B?\r\n"
        b"Date: 99 Foo 99999 99:99:99 +9999\r\n"
        b"Message-ID: <<>>\r\n"
        b"Content-Type: text/plain; charset*=''; name*0*=%ZZ; name*1=\"x\r\n"
        b"Content-Disposition: attachment; filename*=gb2312''%FF%FE\r\n"
        b"Content-Transfer-Encoding: base64; junk\r\n"
        b"\xff\xfe: \x00\x01\r\n"
        b"\r\n"
        b"!!!!"
    )
    parsed = parse(raw)
    assert isinstance(parsed, ParsedEmail)
    assert parsed.from_address == ""


# ---------------------------------------------------------------------------------------------
# parameters and filenames
# ---------------------------------------------------------------------------------------------


def test_rfc2231_filenames_in_chinese():
    main, params = header_params(
        "attachment; filename*=utf-8''%E5%8F%91%E7%A5%A8-2026%E5%B9%B411%E6%9C%88.pdf"
    )
    assert (main, params["filename"]) == ("attachment", "发票-2026年11月.pdf")
    _main, params = header_params(
        "attachment;\r\n filename*0*=gb2312''%B7%A2%C6%B1;\r\n filename*1*=%E9%46.pdf"
    )
    assert params["filename"] == "发票镕.pdf"
    _main, params = header_params(f'application/pdf; name="{word("发票.pdf", "gb2312")}"')
    assert params["name"] == "发票.pdf"


def test_attachment_filenames_are_made_safe():
    parts = [
        part("text/plain", b"hi"),
        part(
            "application/octet-stream",
            b"x",
            'Content-Disposition: attachment; filename="../../etc/passwd"',
        ),
        part(
            "application/octet-stream",
            b"y",
            'Content-Disposition: attachment; filename="C:\\\\Users\\\\evil.exe"',
        ),
        part("application/pdf", b"z", "Content-Disposition: attachment"),
    ]
    parsed = parse(multipart("mixed", parts, "Subject: files"))
    assert [a.filename for a in parsed.attachments] == ["passwd", "evil.exe", "attachment-3.pdf"]


# ---------------------------------------------------------------------------------------------
# bodies
# ---------------------------------------------------------------------------------------------


def test_quoted_printable_and_base64_bodies():
    text = "Grüße – 你好\n"
    qp = parse(
        message(
            "Subject: q",
            body=quopri.encodestring(text.encode()),
            charset="utf-8",
            cte="quoted-printable",
        )
    )
    assert qp.text == text
    b = parse(
        message(
            "Subject: b", body=base64.encodebytes(text.encode()), charset="utf-8", cte="Base64 "
        )
    )
    assert b.text == text
    # base64 with junk and missing padding
    sloppy = base64.b64encode(text.encode()).rstrip(b"=") + b"\r\n!!\r\n"
    assert parse(message("Subject: s", body=sloppy, charset="utf-8", cte="base64")).text == text


def test_uuencoded_attachment():
    import binascii

    payload = b"hello uuencode world\n" * 3
    lines = [binascii.b2a_uu(payload[i : i + 45]) for i in range(0, len(payload), 45)]
    body = b"begin 644 notes.txt\r\n" + b"".join(lines).replace(b"\n", b"\r\n") + b"`\r\nend\r\n"
    raw = multipart(
        "mixed",
        [
            part("text/plain", b"see attached"),
            part(
                "application/octet-stream",
                body,
                "Content-Transfer-Encoding: x-uuencode",
                'Content-Disposition: attachment; filename="notes.txt"',
            ),
        ],
    )
    parsed = parse(raw)
    assert parsed.attachments[0].filename == "notes.txt"
    assert parsed.attachments[0].content == payload


def test_html_only_message_gets_text_from_the_html():
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<div>您好&nbsp;&amp;&lt;谢谢&gt;</div><p>第二段<br>换行</p>"
        "<script>alert(1)</script></body></html>"
    )
    raw = (
        b'Subject: h\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset="gb2312"\r\n'
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + html.encode("gbk")
    )
    parsed = parse(raw)
    assert parsed.html == html
    assert parsed.text == "您好 &<谢谢>\n\n第二段\n换行"


def test_html_charset_from_meta_when_the_label_is_missing():
    html = '<html><head><meta charset="big5"></head><body>請問退貨</body></html>'
    raw = multipart("alternative", [part("text/html", html.encode("big5"))])
    parsed = parse(raw)
    assert parsed.html == html
    assert parsed.text == "請問退貨"


def test_plain_part_preferred_and_attachments_are_not_the_body():
    raw = multipart(
        "mixed",
        [
            part(
                "text/plain; charset=utf-8",
                "正文".encode(),
                'Content-Disposition: attachment; filename="notes.txt"',
            ),
            multipart(
                "alternative",
                [
                    part("text/plain; charset=utf-8", "纯文本".encode()),
                    part("text/html; charset=utf-8", "<p>网页</p>".encode()),
                ],
                boundary="INNER",
            ).split(b"\r\n", 1)[1],
        ],
    )
    parsed = parse(raw)
    assert parsed.text == "纯文本"
    assert parsed.html == "<p>网页</p>"
    assert [a.filename for a in parsed.attachments] == ["notes.txt"]


def test_format_flowed_is_joined():
    body = b"This is a long \r\nline that was wrapped.\r\n> quoted soft \r\n> break\r\n-- \r\nsig"
    raw = message("Subject: f", body=body, cte="7bit").replace(
        b"Content-Type: text/plain", b"Content-Type: text/plain; format=flowed"
    )
    assert parse(raw).text == (
        "This is a long line that was wrapped.\n> quoted soft break\n-- \nsig"
    )


def test_broken_boundary_is_recovered():
    raw = (
        b"Subject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="declared-but-unused"\r\n\r\n'
        b"------=_Real_1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "找回的正文".encode()
        + b"\r\n------=_Real_1--\r\n"
    )
    assert parse(raw).text.strip() == "找回的正文"


def test_binary_body_is_kept_as_a_file_not_shown():
    raw = message("Subject: bin", body=bytes(range(256)) * 4, cte="binary")
    parsed = parse(raw)
    assert parsed.text == ""
    assert parsed.attachments[0].filename == "body.bin"
    assert any("binary" in d for d in parsed.defects)


def test_nul_characters_never_reach_the_text():
    parsed = parse(message("Subject: a\x00b", body=b"x\x00y", charset="utf-8"))
    assert "\x00" not in parsed.text and "\x00" not in parsed.subject


# ---------------------------------------------------------------------------------------------
# attachments, limits
# ---------------------------------------------------------------------------------------------


def test_inline_cid_image():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    raw = multipart(
        "related",
        [
            part("text/html; charset=utf-8", b'<p>logo <img src="cid:logo@kefu"></p>'),
            part(
                "image/png",
                base64.encodebytes(png),
                "Content-Transfer-Encoding: base64",
                "Content-ID: <logo@kefu>",
                'Content-Disposition: inline; filename="logo.png"',
            ),
            part(
                "image/gif",
                base64.encodebytes(b"GIF89a"),
                "Content-Transfer-Encoding: base64",
                "Content-ID: < spacer@kefu >",
            ),
        ],
    )
    parsed = parse(raw)
    logo, spacer = parsed.attachments
    assert (logo.filename, logo.content_type, logo.content) == ("logo.png", "image/png", png)
    assert (logo.content_id, logo.inline) == ("logo@kefu", True)
    assert (spacer.content_id, spacer.inline) == ("spacer@kefu", True)
    assert spacer.filename == "image-2.gif"
    assert parsed.text == "logo"


def test_message_rfc822_attachment():
    inner = message(
        f"Subject: {word('原来的邮件', 'utf-8')}",
        "Message-ID: <inner@example.com>",
        body="被转发的内容".encode(),
        charset="utf-8",
        cte="8bit",
    )
    raw = multipart(
        "mixed",
        [
            part("text/plain; charset=utf-8", "请看转发".encode()),
            part("message/rfc822", inner, "Content-Disposition: attachment"),
        ],
    )
    parsed = parse(raw)
    assert parsed.text == "请看转发"
    (forwarded,) = parsed.attachments
    assert (forwarded.filename, forwarded.content_type) == ("forwarded.eml", "message/rfc822")
    again = parse(forwarded.content)
    assert again.message_id == "inner@example.com"
    assert again.subject == "原来的邮件"
    assert again.text == "被转发的内容"


def test_oversized_attachment_is_listed_not_kept():
    raw = multipart(
        "mixed",
        [
            part("text/plain", b"two files"),
            part(
                "application/zip",
                base64.encodebytes(b"x" * 5000),
                "Content-Transfer-Encoding: base64",
                'Content-Disposition: attachment; filename="big.zip"',
            ),
            part(
                "application/pdf",
                b"%PDF small",
                'Content-Disposition: attachment; filename="s.pdf"',
            ),
        ],
    )
    parsed = parse(raw, max_attachment_bytes=1000)
    assert [a.filename for a in parsed.attachments] == ["s.pdf"]
    assert parsed.oversized == [("big.zip", 5000)]


def test_too_many_parts_stops_with_a_defect():
    parts = [
        part(
            "application/octet-stream", b"x", f'Content-Disposition: attachment; filename="{i}.bin"'
        )
        for i in range(50)
    ]
    parsed = parse(multipart("mixed", [part("text/plain", b"body"), *parts]), max_parts=10)
    assert "too many MIME parts; stopped after 10" in parsed.defects
    assert parsed.text == "body"
    assert len(parsed.attachments) == 8  # root + text + 8 attachments = 10 parts


def test_ten_thousand_parts_and_deep_nesting_do_not_raise():
    many = multipart("mixed", [part("text/plain", b"p")] * 10_000)
    parsed = parse(many)
    assert "too many MIME parts; stopped after 1000" in parsed.defects
    deep = b"Subject: deep\r\n"
    for level in range(3000):
        deep += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
    deep += b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    parsed = parse(deep)
    assert isinstance(parsed, ParsedEmail)
    assert parsed.subject == "deep"


@pytest.mark.parametrize(
    "raw",
    [
        b"Subject: " + b"=?a?b?x" * 50_000 + b"\r\n\r\nx",
        b"Content-Type: text/html\r\n\r\n" + b"<p <br <div " * 100_000,
        b"To: " + b"a" * 300_000 + b"\r\nFrom: " + b"b" * 300_000 + b"\r\n\r\nx",
        b'Content-Type: multipart/mixed; boundary="z"\r\n\r\n'
        + b"".join(b"--%d\r\n" % i for i in range(100_000)),
        b"Content-Type: text/plain\r\n\r\n" + ("Grüße aus München " * 300_000).encode("latin-1"),
    ],
    ids=["encoded-words", "unclosed-tags", "long-address", "boundaries", "5MB-latin-1"],
)
def test_hostile_input_is_linear_time(raw):
    import time

    started = time.perf_counter()
    parse(raw)
    assert time.perf_counter() - started < 5


# ---------------------------------------------------------------------------------------------
# bounces
# ---------------------------------------------------------------------------------------------


def _bounce(original: bytes, original_type: str = "message/rfc822") -> bytes:
    status = (
        b"Reporting-MTA: dns; mx.example.net\r\n"
        b"Arrival-Date: Fri, 20 Nov 2026 10:00:00 +0000\r\n"
        b"\r\n"
        b"Final-Recipient: rfc822; nobody@example.net\r\n"
        b"Original-Recipient: rfc822;Nobody@example.net\r\n"
        b"Action: failed\r\n"
        b"Status: 5.1.1\r\n"
        b"Remote-MTA: dns; mx2.example.net\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address\r\n"
        b" rejected: User unknown in virtual mailbox table\r\n"
    )
    return multipart(
        "report",
        [
            part(
                "text/plain; charset=us-ascii",
                b"This is the mail system at host mx.example.net.\r\n\r\n"
                b"I'm sorry to have to inform you that your message could not be delivered.",
            ),
            part("message/delivery-status", status, "Content-Description: Delivery report"),
            part(original_type, original, "Content-Description: Undelivered Message"),
        ],
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)",
        "To: support@kefu.test",
        "Subject: Undelivered Mail Returned to Sender",
        "Auto-Submitted: auto-replied",
        params="; report-type=delivery-status",
    )


def test_dsn_bounce_with_the_original_message():
    original = (
        b"From: support@kefu.test\r\nTo: nobody@example.net\r\nSubject: [#1042] re\r\n"
        b"Message-ID: <reply-1042.1@kefu.test>\r\n\r\nOur answer.\r\n"
    )
    parsed = parse(_bounce(original))
    status = parsed.delivery_status
    assert status is not None
    assert status.original_message_id == "reply-1042.1@kefu.test"
    assert status.recipient == "nobody@example.net"
    assert status.status == "5.1.1"
    assert status.diagnostic == (
        "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in "
        "virtual mailbox table"
    )
    assert parsed.from_address == "mailer-daemon@mx.example.net"
    assert [a.filename for a in parsed.attachments] == ["forwarded.eml"]


def test_dsn_bounce_with_only_the_original_headers():
    headers = b"From: support@kefu.test\r\nMessage-ID:\r\n <reply-7@kefu.test>\r\n"
    status = parse(_bounce(headers, "text/rfc822-headers")).delivery_status
    assert status is not None
    assert status.original_message_id == "reply-7@kefu.test"


def test_dsn_with_a_base64_encoded_original():
    original = b"From: support@kefu.test\r\nMessage-ID: <reply-9@kefu.test>\r\n\r\nHi\r\n"
    raw = _bounce(
        base64.encodebytes(original), "message/rfc822\r\nContent-Transfer-Encoding: base64"
    )
    parsed = parse(raw)
    assert parsed.delivery_status is not None
    assert parsed.delivery_status.original_message_id == "reply-9@kefu.test"
    assert parsed.attachments[0].content == original


def test_a_report_that_is_not_a_dsn_is_not_a_bounce():
    assert parse(message("Subject: hi", body=b"Status: 5.1.1")).delivery_status is None


# ---------------------------------------------------------------------------------------------
# never raise
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [b"", b"\r\n", b"\x00" * 100, "not bytes", None, 42])
def test_degenerate_input(value):
    parsed = parse(value)  # not bytes on purpose for some values
    assert isinstance(parsed, ParsedEmail)


def test_the_standard_library_agrees_on_simple_mail():
    raw = message(
        "From: A <a@b.cn>",
        f"Subject: {word('你好', 'utf-8')}",
        body="正文".encode(),
        charset="utf-8",
        cte="8bit",
    )
    std = BytesParser(policy=email.policy.default).parsebytes(raw)
    parsed = parse(raw)
    assert parsed.subject == str(std["subject"])
    assert parsed.text == std.get_content()


@PROPERTY
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw):
    assert isinstance(parse(raw), ParsedEmail)


_HEADER_LINES = st.sampled_from(
    [
        b"Subject: =?gb2312?B?",
        b"Content-Type: multipart/mixed; boundary=x",
        b"Content-Type: text/plain; charset=gb2312",
        b"Content-Transfer-Encoding: base64",
        b"Content-Transfer-Encoding: quoted-printable",
        b"--x",
        b"--x--",
        b"",
        b"Content-Disposition: attachment; filename*=utf-8''%E5",
        b"From: =?utf-8?Q?=E5?= <a@b>",
        b"Content-Type: message/rfc822",
        b"Content-Type: multipart/report; report-type=delivery-status",
        b"Content-Type: message/delivery-status",
        b"Final-Recipient: rfc822;",
    ]
)


@PROPERTY
@given(st.lists(st.one_of(_HEADER_LINES, st.binary(max_size=40)), max_size=60))
def test_random_mime_like_lines_never_raise(lines):
    assert isinstance(parse(b"\r\n".join(lines)), ParsedEmail)


@PROPERTY
@given(data=st.data())
def test_truncated_corpus_messages_never_raise(data):
    if not CORPUS_FILES:
        if os.environ.get("CI"):
            pytest.fail(f"the shared mail corpus is missing at {CORPUS}")
        pytest.skip(f"no mail corpus at {CORPUS}")
    path = data.draw(st.sampled_from(CORPUS_FILES))
    full = path.read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(full)))
    assert isinstance(parse(full[:cut]), ParsedEmail)


def test_every_corpus_message_truncated_at_many_points_never_raises():
    if not CORPUS_FILES:
        if os.environ.get("CI"):
            pytest.fail(f"the shared mail corpus is missing at {CORPUS}")
        pytest.skip(f"no mail corpus at {CORPUS}")
    for path in CORPUS_FILES:
        full = path.read_bytes()[:200_000]
        step = max(1, len(full) // 7)
        for cut in range(0, len(full), step):
            assert isinstance(parse(full[:cut]), ParsedEmail)
