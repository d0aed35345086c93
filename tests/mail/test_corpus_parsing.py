"""Every real-world message of the shared corpus (../shared/data/mail/) parses without an
exception into clean text: no replacement characters, no mojibake, the Chinese decoded, the
attachments counted. Run with -s to see a summary table."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from kefu.mail.loops import automatic_reason
from kefu.mail.parsing import ParsedEmail, parse
from kefu.mail.quotes import split_quoted

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mail"
FILES = sorted(CORPUS.rglob("*.eml")) if CORPUS.is_dir() else []

if not FILES:
    if os.environ.get("CI"):
        pytest.fail(
            f"the shared mail corpus is missing at {CORPUS} (required in CI)", pytrace=False
        )
    pytest.skip(f"the shared mail corpus is not at {CORPUS}", allow_module_level=True)

HAN = re.compile(r"[\u4e00-\u9fff]")
# UTF-8 bytes read as Latin-1 ("Ã©"), C1 controls, runs of Latin-1 symbols from CJK bytes
MOJIBAKE = re.compile(r"[\u00c2-\u00f4][\u0080-\u00bf]|[\u0080-\u009f]|[\u00a1-\u00ff]{4,}")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
CHARSET = re.compile(rb"(?i)charset\s*=\s*\"?([\w.:-]+)")

# Replacement characters that are in the source bytes themselves, with the evidence.
GENUINELY_BROKEN = {
    # The raw Subject and From headers contain the UTF-8 encoding of U+FFFD (EF BF BD): the
    # sending program had already replaced characters before the message was sent.
    "imap_tools/must_supply_encoding.eml": (
        ("subject", "from_name"),
        b"phone\xef\xbf\xbd\xef\xbf\xbd",
    ),
    # The UTF-8 quoted-printable HTML body has an invalid sequence, =D1=66 ("т.к." was meant,
    # =D1=82): one byte cannot be decoded in any charset that fits the rest of the message.
    "mail_parser/mail_test_6.eml": (("text",), b"=D1=66.=D0=BA."),
}

# Attachment counts, checked by reading the files (Content-Disposition, names, parts).
ATTACHMENTS = {
    "zh/attachment_rfc2231_zh.eml": ["发票-2026年11月.pdf"],
    "zh/big5_question.eml": [],
    "zh/outlook_reply_zh.eml": [],
    "mail_parser/mail_test_7.eml": [
        "image001.jpg",
        "att24916.htm",
        "image002.jpg",
        "att09558.htm",
        "image003.jpg",
        "att04803.htm",
        "20170609091403417.pdf",
        "att18831.htm",
    ],
    "mail_parser/mail_test_2.eml": ["intestazione.jpg", "logometeo.jpg", "Bollettino.pdf"],
    "mail_parser/mail_test_5.eml": 5,  # one JPEG and four PNG inline images
    "mail_parser/mail_test_10.eml": 4,  # three inline GIFs (no names) and a PDF
    "mail_parser/mail_test_4.eml": ["img1.jpg", "Payment Invoice.zip"],
    "mail_parser/mail_test_15.eml": ["REQUEST FOR QUOTE.zip"],
    "imap_tools/raw_email7.eml": ["test.rb", "test.pdf", "smime.p7s"],
    "imap_tools/attachment_inline1.eml": ["blank.png", "sm-ok.png", "logo.png"],
    "imap_tools/attachment_2_base64.eml": ["yandex_email.eml", "yandex_email.eml"],
    "imap_tools/attachment_message_rfc822.eml": ["ForwardedMessage.eml"],
    "imap_tools/multi_address_bounce1.eml": ["forwarded.eml"],
    "imap_tools/raw_email_with_nested_attachment.eml": ["truncated.png", "smime.p7s"],
    "imap_tools/attachment_only_email.eml": ["blah.gz"],
    "imap_tools/attachment_nonascii_filename.eml": ["ciële.txt"],
    "imap_tools/japanese_attachment.eml": ["てすと.txt"],
    "imap_tools/basic_email.eml": [],
}

_parsed: dict[str, ParsedEmail] = {}


def name_of(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def parsed(name: str) -> ParsedEmail:
    if name not in _parsed:
        _parsed[name] = parse((CORPUS / name).read_bytes())
    return _parsed[name]


@pytest.mark.parametrize("path", FILES, ids=name_of)
def test_every_message_parses_cleanly(path):
    name = name_of(path)
    result = parsed(name)
    assert not any(d.startswith("the message could not be parsed") for d in result.defects)
    broken_fields = GENUINELY_BROKEN.get(name, ((), b""))[0]
    for field in ("subject", "text", "from_name"):
        value = getattr(result, field)
        if field not in broken_fields:
            assert "\ufffd" not in value, f"{field}: {value[:200]!r}"
        assert not MOJIBAKE.search(value), f"{field}: {MOJIBAKE.search(value)}"
        assert not CONTROL.search(value), f"{field}: control character"
    assert "\r" not in result.subject and "\n" not in result.subject
    assert len(result.subject) <= 255
    for attachment in result.attachments:
        assert attachment.filename and "\ufffd" not in attachment.filename
        assert "/" not in attachment.filename and "\\" not in attachment.filename
    if name.startswith("zh/") and name != "zh/kopano_gb2312_18030.eml":
        assert HAN.search(result.subject), result.subject
        assert HAN.search(result.text), result.text


def test_replacement_characters_only_where_the_source_is_broken():
    with_replacements = {
        name_of(p)
        for p in FILES
        if "\ufffd" in parsed(name_of(p)).subject or "\ufffd" in parsed(name_of(p)).text
    }
    assert with_replacements == set(GENUINELY_BROKEN)
    for name, (fields, evidence) in GENUINELY_BROKEN.items():
        assert evidence in (CORPUS / name).read_bytes()
        for field in fields:
            assert "\ufffd" in getattr(parsed(name), field)


@pytest.mark.parametrize("name", sorted(ATTACHMENTS))
def test_attachment_counts(name):
    expected = ATTACHMENTS[name]
    names = [a.filename for a in parsed(name).attachments]
    if isinstance(expected, int):
        assert len(names) == expected, names
    else:
        assert names == expected
    assert parsed(name).oversized == []


# ---- the zh/ expectations of ../shared/data/README.md ----------------------------------------


def test_gb2312_label_with_gbk_character():
    result = parsed("zh/gb2312_label_gbk_chars.eml")
    assert result.subject == "咨询:镕钢保温杯的保修期"
    assert "镕钢保温杯盖子漏水" in result.text
    assert "王先生" in result.text


def test_big5_quoted_printable():
    result = parsed("zh/big5_question.eml")
    assert result.subject == "請問退貨流程"
    assert "我在貴公司網站購買的耳機有雜音,請問怎麼退貨?需要保留包裝嗎?" in result.text
    assert "陳小姐" in result.text


def test_gbk_8bit_body():
    result = parsed("zh/gbk_8bit_body.eml")
    assert result.subject == "投诉:维修三次仍未修好"
    assert "空调已经维修三次还是不制冷" in result.text
    assert "订单号 2026110188" in result.text


def test_outlook_reply_quote_is_folded_away():
    result = parsed("zh/outlook_reply_zh.eml")
    assert result.subject == "回复: [#1042] 净水器滤芯更换"
    assert result.in_reply_to == ["reply-1042@example.com"]
    shown, quoted = split_quoted(result.text)
    assert shown == "谢谢,已经收到新的滤芯了,安装好了。"
    assert quoted.startswith("-----原始邮件-----")
    assert "新的滤芯已于今天寄出" in quoted


def test_qq_mail_vacation_reply_is_recognised():
    result = parsed("zh/qq_autoreply_zh.eml")
    assert result.subject == "自动回复: [#1043] 您的工单已受理"
    assert "假期自动回复" in result.text
    assert "auto-submitted" not in result.headers  # QQ Mail sends none
    assert automatic_reason(result) is not None


def test_rfc2231_chinese_attachment_name_and_hostile_html():
    result = parsed("zh/attachment_rfc2231_zh.eml")
    assert result.subject == "延保登记(附发票)"
    assert result.from_name == "张三"
    (pdf,) = result.attachments
    assert (pdf.filename, pdf.content_type) == ("发票-2026年11月.pdf", "application/pdf")
    assert pdf.content.startswith(b"%PDF")
    assert result.text == "发票和保修卡照片见附件,请帮忙登记延保。"
    assert "<script>" in result.html  # kept as sent; the caller sanitizes it


def test_kopano_gb2312_header_with_gb18030_characters():
    result = parsed("zh/kopano_gb2312_18030.eml")
    # the encoded bytes themselves contain the question marks
    assert result.subject == "讀取: ??排??生?a"
    assert result.from_name == "梁祐晟"
    assert result.to == [("林慶美", "other.address@some.domain")]


def test_mail_parser_gb2312_label_on_utf8_body():
    result = parsed("mail_parser/mail_test_12.eml")
    assert result.subject == "代开各地增值税发票"
    assert result.from_name == "张先生"
    assert "我公司可代开各类增值税发票" in result.text


def test_mislabelled_gb2312_subject_and_html_body():
    result = parsed("mail_parser/mail_test_9.eml")
    assert result.subject.startswith("我把镜头拉近些，你们看看这个是什么")
    assert "\ufffd" not in result.subject
    assert "我把镜头拉近些" in result.text  # derived from the HTML


def test_raw_8bit_and_double_encoded_headers():
    assert parsed("imap_tools/invalid_subject_characters.eml").subject == (
        "Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro"
    )
    big5 = parsed("imap_tools/content_transfer_encoding_empty.eml")
    assert "大補泡麵專賣" in big5.subject
    assert "軟體帝國" in big5.text


def test_bounces_in_the_corpus():
    status = parsed("imap_tools/report_530.eml").delivery_status
    assert status is not None
    assert status.recipient == "edwin@zzzzzzz.com"
    assert status.status == "5.3.0"
    assert status.original_message_id == "200712232303.lBNN3jDq002941@mail12.rrrr.com.au"
    status = parsed("imap_tools/multi_address_bounce1.eml").delivery_status
    assert status is not None and status.status == "5.1.1"
    status = parsed("mail_parser/mail_malformed_2.eml").delivery_status
    assert status is not None
    assert status.original_message_id == "004801d1fc84$01c934ac$b247f0b7$@infospacemail.com"
    assert parsed("zh/qq_autoreply_zh.eml").delivery_status is None


def test_summary_and_speed():
    raws = [(name_of(p), p.read_bytes()) for p in FILES]
    started = time.perf_counter()
    results = [(name, parse(raw)) for name, raw in raws]
    elapsed = time.perf_counter() - started
    # the table is shown with pytest -s
    print(f"\n{'message':<62} {'charset':<24} {'att':>3} subject")
    for (name, result), (_name, raw) in zip(results, raws, strict=True):
        charset = CHARSET.search(raw)
        label = charset.group(1).decode("ascii", "replace") if charset else "-"
        print(f"{name:<62} {label:<24} {len(result.attachments):>3} {result.subject[:40]}")
    print(f"{len(raws)} messages in {elapsed:.2f}s: {len(raws) / elapsed:.0f} messages/s")
    assert len(results) == len(FILES)
