"""Deterministic generator of varied raw emails for ``bench/mail_ingest.py``.

    .venv/bin/python bench/mail_corpus.py OUT_DIR [--messages 10000] [--seed 20240603]

writes ``OUT_DIR/NNNNN.eml`` and ``OUT_DIR/manifest.jsonl`` (one JSON object a message, in
delivery order). The same seed always gives the same bytes.

The mix is what a Chinese/English support address receives, written by hand (not with
``email.message``) so that it can carry what real clients get wrong:

* plain text in English and in Chinese (UTF-8 as 8bit, base64 or quoted-printable);
* HTML with a plain-text alternative, HTML only, ``multipart/related`` with ``cid:`` images;
* legacy Chinese charsets: GB2312 (a third of them mislabeled: GBK-only characters such as
  喆 堃 镕 in a part labeled GB2312), GBK, GB18030 (with four-byte characters: emoji),
  Big5 (some labeled Big5 but carrying the HKSCS characters of written Cantonese: 嘅 咗 啲),
  with RFC 2047 encoded-word subjects and display names (B and Q) in the same charset;
* attachments of a few KB (CSV, PDF-like, generated PNG images) named in Chinese through
  RFC 2231 (``filename*=``, also split in ``filename*0*=`` continuations) or encoded words;
  and a few larger ones (200 KB to 1.2 MB);
* replies (``In-Reply-To`` / ``References`` to an earlier message of the same customer) that
  quote the history below a Chinese or English reply marker; out-of-office auto-replies;
* the real messages of ``/work/shared/data/mail/`` (read from there, spread evenly through
  the stream; they are never copied into the repository).

Each manifest row says what an honest parser must find: the decoded subject, a sentence of the
new text and the attachment file names, so the benchmark can check the decoding of every
generated message, not just count U+FFFD.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import random
import struct
import sys
import urllib.parse
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_CORPUS = ROOT.parent / "shared" / "data" / "mail"
SUPPORT = "support@kefu-bench.example"
SEED = 20240603

# ---------------------------------------------------------------------------------------------
# Words
# ---------------------------------------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "文",
    "华",
    "建国",
    "晓东",
]
GIVEN_GBK = ["喆", "堃", "祎", "昇", "镕", "玥", "珺", "琛"]  # GBK, not GB2312
GIVEN_HK = ["嘉欣", "志明", "詠詩", "家豪", "美玲", "偉文", "淑儀", "國強"]
EN_FIRST = [
    "Tom",
    "Amy",
    "Peter",
    "Laura",
    "James",
    "Olivia",
    "Chris",
    "Sofia",
    "Daniel",
    "Grace",
    "Lucas",
    "Emma",
    "Henry",
    "Chloe",
    "Ivan",
    "Nora",
]
EN_LAST = [
    "Baker",
    "Wong",
    "Smith",
    "Chan",
    "Miller",
    "Lee",
    "Brown",
    "Ng",
    "Taylor",
    "Cheung",
    "Davis",
    "Lam",
]
DOMAINS = [
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "foxmail.com",
    "gmail.com",
    "outlook.com",
    "yahoo.com.hk",
    "netvigator.com",
    "example.com.tw",
    "corp.example.cn",
]

ZH_SUBJECTS = [
    "订单一直没有发货",
    "申请退款",
    "发票开错了",
    "账号无法登录",
    "商品质量问题",
    "物流信息不更新",
    "想修改收货地址",
    "优惠券不能使用",
    "会员续费扣款两次",
    "退货流程咨询",
    "产品使用说明",
    "售后维修进度",
    "支付失败但扣款成功",
    "批量采购报价",
    "合同盖章问题",
    "数据导出报错",
]
ZH_SENTENCES = [
    "您好，我上周下的订单到现在还没有发货，请帮忙查一下。",
    "订单号是二零二四零六零三八八一二，付款已经成功了。",
    "收到的商品外包装破损，里面的配件少了一个。",
    "我想申请退款，请问需要提供哪些材料？",
    "发票抬头写错了，麻烦重新开一张增值税专用发票。",
    "手机验证码一直收不到，换了浏览器也不行。",
    "物流信息三天没有更新了，快递员电话也打不通。",
    "请问周末有人处理售后吗？我比较着急。",
    "上次客服说会在两个工作日内回复，但是一直没有消息。",
    "附件是问题截图，请查收。",
    "我们公司想采购一百台，请给一个报价。",
    "系统导出的表格里中文全是乱码，能帮忙看看吗？",
    "会员自动续费扣了两次钱，请退回多扣的那一笔。",
    "谢谢你们的耐心解答，问题已经解决了一半。",
    "如果方便的话，请直接打我电话联系。",
]
ZH_GBK_SENTENCES = [
    "我叫{name}，上次的工单还没有结果。",
    "联系人：{name}，电话一三八零零一三八零零零。",
]
ZH_EMOJI = ["收到了，谢谢😀", "太慢了😡请尽快处理", "好评👍", "价格是€120还是¥998？"]
HANT_SUBJECTS = [
    "訂單尚未出貨",
    "申請退款",
    "發票開錯了",
    "帳號無法登入",
    "商品品質問題",
    "維修進度查詢",
    "更改送貨地址",
    "信用卡重複扣款",
]
HANT_SENTENCES = [
    "您好，我上星期訂購的商品到現在還沒有收到，請幫忙查詢。",
    "收到的產品外盒破損，裡面少了一條充電線。",
    "我想申請退款，請問需要提供哪些資料？",
    "發票抬頭寫錯了，麻煩重新開立。",
    "信用卡被扣款兩次，請盡快處理。",
    "附件是問題的照片，請查收。",
    "謝謝你們的協助，祝工作順利。",
]
HKSCS_SENTENCES = [
    "唔該幫我睇下張單，我啲貨仲未收到。",  # 啲 is HKSCS
    "你哋話今日送到，但係到而家都冇人嚟。",  # 哋 嚟 are HKSCS
    "部機用咗兩日就壞咗，點算好？",  # 咗 is HKSCS
    "呢個係我嘅訂單號碼，唔該晒。",
]  # 嘅 is HKSCS
EN_SUBJECTS = [
    "Order not shipped yet",
    "Refund request",
    "Wrong invoice",
    "Cannot log in",
    "Damaged item received",
    "Tracking not updated",
    "Change delivery address",
    "Coupon does not apply",
    "Charged twice for membership",
    "Bulk order quote",
    "Export produces garbled characters",
    "Warranty repair status",
]
EN_SENTENCES = [
    "Hello, I placed an order last week and it still has not shipped.",
    "The order number is 20240603-8812 and the payment went through.",
    "The box arrived damaged and one of the accessories is missing.",
    "Could you tell me what documents you need for a refund?",
    "The company name on the invoice is wrong, please issue a new one.",
    "I never receive the verification code, whatever browser I use.",
    "The tracking page has not changed for three days.",
    "Is anyone handling after-sales requests during the weekend?",
    "I was told I would hear back within two working days.",
    "Please find the screenshots attached.",
    "We would like a quote for one hundred units.",
    "Thanks for your patience, half of the problem is solved now.",
]
AUTO_REPLY = {
    "en": ("Automatic reply", "I am out of the office until Monday with limited access to email."),
    "zh": ("自动回复", "您好，我正在休假，周一回来后会尽快回复您的邮件。"),
}


# ---------------------------------------------------------------------------------------------
# Encodings, written out by hand so that every quirk is deliberate
# ---------------------------------------------------------------------------------------------


def encoded_words(text: str, charset: str, codec: str, q: bool = False) -> str:
    """RFC 2047 encoded words, split on character boundaries (never inside a multibyte
    character), each at most 75 characters."""
    words: list[str] = []
    chunk = b""
    for ch in text:
        piece = ch.encode(codec)
        if len(chunk) + len(piece) > (20 if q else 36):
            words.append(_word(chunk, charset, q))
            chunk = b""
        chunk += piece
    if chunk:
        words.append(_word(chunk, charset, q))
    return "\n ".join(words)


def _word(data: bytes, charset: str, q: bool) -> str:
    if not q:
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    out = []
    for byte in data:
        char = chr(byte)
        if char.isascii() and char.isalnum():
            out.append(char)
        elif char == " ":
            out.append("_")
        else:
            out.append(f"={byte:02X}")
    return f"=?{charset}?Q?{''.join(out)}?="


def body_bytes(text: str, codec: str, cte: str, eol: str) -> bytes:
    data = text.replace("\n", "\r\n").encode(codec)
    if cte == "base64":
        lines = base64.encodebytes(data).decode().splitlines()
        return eol.join(lines).encode() + eol.encode()
    if cte == "quoted-printable":
        encoded = binascii.b2a_qp(data, istext=True).decode("ascii")
        # b2a_qp keeps CRLF as =0D + newline when not istext-aware: normalise the line ends
        return eol.join(encoded.replace("\r\n", "\n").split("\n")).encode() + eol.encode()
    lines = data.split(b"\r\n")
    return eol.encode().join(lines) + eol.encode()


def rfc2231(name: str, charset: str, codec: str, split: bool) -> str:
    quoted = urllib.parse.quote(name.encode(codec), safe="")
    if not split or len(quoted) < 30:
        return f"filename*={charset}''{quoted}"
    half = len(quoted) // 2
    while quoted[half - 1] == "%" or quoted[half - 2] == "%":  # keep %XX escapes whole
        half += 1
    return f"filename*0*={charset}''{quoted[:half]};\n filename*1*={quoted[half:]}"


def png(rng: random.Random, size: int) -> bytes:
    """A valid PNG: size x size noise (about 3 bytes a pixel after deflate)."""
    rows = b"".join(b"\x00" + rng.randbytes(size * 3) for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )


def b64_lines(data: bytes, eol: str) -> bytes:
    return eol.join(base64.encodebytes(data).decode().splitlines()).encode() + eol.encode()


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------


@dataclass
class Customer:
    name: str
    address: str
    lang: str  # zh, hant, hk, en
    threads: list[tuple[str, str, list[str], str]] = field(default_factory=list)
    # (subject, message-id, references, first sentence) of each thread's last message


@dataclass
class Item:
    """One message of the stream."""

    name: str
    kind: str
    raw: bytes
    subject: str = ""  # the decoded subject a correct parser finds ("" for the shared corpus)
    probe: str = ""  # a sentence that must appear in the shown text
    filenames: list[str] = field(default_factory=list)
    message_id: str = ""
    parent: str = ""  # the Message-ID it answers (In-Reply-To), "" for a new thread
    quoted: str = ""  # the probe of the quoted earlier message: must NOT be in the shown text
    source: str = "generated"  # or the path under the shared corpus


CHARSETS = [  # (label written in the message, codec that really encoded it, weight)
    ("gb2312", "gb2312", 10),
    ("gb2312", "gbk", 6),
    ("GBK", "gbk", 6),
    ("gb18030", "gb18030", 5),
    ("big5", "big5", 6),
    ("big5", "big5hkscs", 3),
    ("Big5-HKSCS", "big5hkscs", 1),
]
KINDS = [
    ("plain_en", 18),
    ("plain", 14),
    ("alternative", 18),
    ("html_only", 4),
    ("legacy_zh", 22),
    ("attachments", 14),
    ("related", 4),
    ("auto_reply", 2),
]


class Generator:
    def __init__(self, seed: int = SEED, customers: int = 1500) -> None:
        self.rng = random.Random(seed)
        self.seq = 0
        self.start = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
        self.customers = [self._customer(i) for i in range(customers)]

    def _customer(self, i: int) -> Customer:
        rng = self.rng
        lang = rng.choices(["zh", "hant", "hk", "en"], [55, 12, 8, 25])[0]
        if lang == "en":
            name = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
        elif lang == "zh":
            given = rng.choice(GIVEN_GBK) if rng.random() < 0.15 else rng.choice(GIVEN)
            name = rng.choice(SURNAMES) + given
        else:
            name = rng.choice("陳黃李張林吳劉蔡鄭王") + rng.choice(GIVEN_HK)
        local = f"c{i:05d}.{rng.randrange(10**6):06d}"
        return Customer(name=name, address=f"{local}@{rng.choice(DOMAINS)}", lang=lang)

    # -- pieces --------------------------------------------------------------------------

    def _sentences(self, lang: str, codec: str, count: int) -> list[str]:
        rng = self.rng
        pool = {"en": EN_SENTENCES, "hant": HANT_SENTENCES, "hk": HANT_SENTENCES}.get(
            lang, ZH_SENTENCES
        )
        out = [rng.choice(pool) for _ in range(count)]
        if lang == "hk" and codec in ("big5hkscs", "utf-8"):
            out.insert(rng.randrange(len(out) + 1), rng.choice(HKSCS_SENTENCES))
        if lang == "zh" and codec in ("gbk", "gb18030", "utf-8") and rng.random() < 0.5:
            name = rng.choice(SURNAMES) + rng.choice(GIVEN_GBK)
            out.insert(0, rng.choice(ZH_GBK_SENTENCES).format(name=name))
        if lang == "zh" and codec in ("gb18030", "utf-8") and rng.random() < 0.4:
            out.append(rng.choice(ZH_EMOJI))
        # Make the probe sentence unique to this message.
        out[0] = f"{out[0]} [{self.seq:05d}]"
        return out

    def _subject(self, lang: str, codec: str) -> str:
        rng = self.rng
        if lang == "en":
            base = rng.choice(EN_SUBJECTS)
        elif lang in ("hant", "hk"):
            base = rng.choice(HANT_SUBJECTS)
            if lang == "hk" and codec in ("big5hkscs", "utf-8") and rng.random() < 0.5:
                base += "（急，唔該）"
        else:
            base = rng.choice(ZH_SUBJECTS)
            if codec in ("gbk", "gb18030", "utf-8") and rng.random() < 0.3:
                base += "——" + rng.choice(SURNAMES) + rng.choice(GIVEN_GBK)
            if codec in ("gb18030", "utf-8") and rng.random() < 0.2:
                base += " 😭"
        return f"{base} {self.seq:05d}"

    def _signature(self, customer: Customer) -> str:
        rng = self.rng
        if rng.random() < 0.6:
            return ""
        phone = f"138{rng.randrange(10**8):08d}"
        if customer.lang == "en":
            return f"\n-- \n{customer.name}\nPhone: +86 {phone}\n"
        if customer.lang in ("hant", "hk"):
            return f"\n-- \n{customer.name}\n電話：+852 {phone[3:]}\n"
        return f"\n--\n{customer.name}\n电话：{phone}\n"

    def _quote(
        self, customer: Customer, thread: tuple[str, str, list[str], str], when: datetime
    ) -> str:
        rng = self.rng
        subject, _mid, _refs, first = thread
        styles = {"en": ["en_wrote", "en_outlook"], "zh": ["zh_wrote", "zh_outlook", "zh_qq"]}
        style = rng.choice(
            [*styles.get(customer.lang, ["hant_wrote", "hant_outlook"]), "en_wrote", "en_outlook"]
        )
        stamp = when - timedelta(days=1)
        if style == "hant_wrote":
            head = f"於 {stamp:%Y/%m/%d %H:%M}, {customer.name} <{customer.address}> 寫道:"
            return f"\n\n{head}\n> {first}\n> \n> {subject}\n"
        if style == "hant_outlook":
            return (
                f"\n\n-----原始郵件-----\n寄件者: {customer.name} <{customer.address}>\n"
                f"寄件日期: {stamp:%Y年%m月%d日 %H:%M}\n收件者: {SUPPORT}\n主旨: {subject}\n\n"
                f"{first}\n"
            )
        if style == "zh_qq":
            return (
                f"\n\n------------------ 原始邮件 ------------------\n"
                f'发件人: "{customer.name}"<{customer.address}>;\n'
                f'发送时间: {stamp:%Y年%m月%d日(%a) %H:%M}\n收件人: "kefu"<{SUPPORT}>;\n'
                f"主题: {subject}\n\n{first}\n"
            )
        if style == "zh_wrote":
            head = f"在 {stamp:%Y年%m月%d日 %H:%M}，{customer.name} <{customer.address}> 写道："
            return f"\n\n{head}\n> {first}\n> \n> {subject}\n"
        if style == "zh_outlook":
            return (
                f"\n\n-----原始邮件-----\n发件人: {customer.name} <{customer.address}>\n"
                f"发送时间: {stamp:%Y-%m-%d %H:%M}\n收件人: {SUPPORT}\n主题: {subject}\n\n"
                f"{first}\n"
            )
        if style == "en_wrote":
            return (
                f"\n\nOn {stamp:%a, %d %b %Y at %H:%M}, {customer.name} <{customer.address}>"
                f" wrote:\n> {first}\n"
            )
        return (
            f"\n\n-----Original Message-----\nFrom: {customer.name} <{customer.address}>\n"
            f"Sent: {stamp:%A, %B %d, %Y %H:%M}\nTo: {SUPPORT}\nSubject: {subject}\n\n"
            f"{first}\n"
        )

    def _address_header(self, name: str, address: str, charset: str, codec: str) -> str:
        rng = self.rng
        if name.isascii():
            return f'"{name}" <{address}>'
        try:
            name.encode(codec)
        except UnicodeEncodeError:
            codec, charset = "utf-8", "UTF-8"
        return f"{encoded_words(name, charset, codec, q=rng.random() < 0.3)} <{address}>"

    # -- messages ------------------------------------------------------------------------

    def message(self) -> Item:
        rng = self.rng
        self.seq += 1
        seq = self.seq
        when = self.start + timedelta(seconds=37 * seq)
        customer = rng.choice(self.customers)
        large = rng.random() < 0.0025
        kind = "large" if large else rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
        eol = "\r\n" if rng.random() < 0.25 else "\n"

        # Charset of the text parts and of the headers.
        if kind == "legacy_zh" or (
            customer.lang != "en" and kind in ("attachments", "large") and rng.random() < 0.5
        ):
            label, codec = self._legacy_charset(customer.lang)
        elif kind == "plain_en" or customer.lang == "en":
            label, codec = ("us-ascii", "ascii") if rng.random() < 0.5 else ("UTF-8", "utf-8")
        else:
            label, codec = "UTF-8", "utf-8"
        lang = "en" if kind == "plain_en" else customer.lang
        text_lang = lang if codec != "ascii" else "en"

        reply_to_thread = None
        if customer.threads and rng.random() < 0.4:
            reply_to_thread = rng.randrange(len(customer.threads))
        message_id = f"{seq}.{rng.randrange(16**10):010x}@{customer.address.split('@')[1]}"

        sentences = self._sentences(text_lang, codec, rng.randint(2, 7))
        probe = sentences[0]
        headers: list[tuple[str, str]] = []
        if kind == "auto_reply":
            words = AUTO_REPLY["en" if text_lang == "en" else "zh"]
            subject = f"{words[0]}: {self._subject(text_lang, codec)}"
            sentences = [f"{words[1]} [{seq:05d}]"]
            probe = sentences[0]
            headers.append(("Auto-Submitted", "auto-replied"))
            headers.append(("X-Autoreply", "yes"))
        elif reply_to_thread is not None:
            old_subject = customer.threads[reply_to_thread][0]
            prefix = rng.choice(
                {
                    "en": ["Re: ", "RE: ", "Re: Re: "],
                    "zh": ["Re: ", "回复：", "答复: ", "回复: "],
                }.get(text_lang, ["Re: ", "回覆：", "答覆: ", "RE: "])
            )
            subject = (
                old_subject
                if old_subject.startswith(("Re", "RE", "回", "答"))
                else (prefix + old_subject)
            )
            try:
                subject.encode(codec)
            except UnicodeEncodeError:
                subject = self._subject(text_lang, codec)
        else:
            subject = self._subject(text_lang, codec)

        text = "\n".join(sentences) + "\n" + self._signature(customer)
        quoted = ""
        if reply_to_thread is not None and kind != "auto_reply":
            text += self._quote(customer, customer.threads[reply_to_thread], when)
            quoted = customer.threads[reply_to_thread][3]

        if kind == "auto_reply" and customer.threads:
            reply_to_thread = rng.randrange(len(customer.threads))
        if reply_to_thread is not None:
            _s, parent, refs, _f = customer.threads[reply_to_thread]
            references = [*refs, parent][-10:]
            headers.append(("In-Reply-To", f"<{parent}>"))
            headers.append(("References", "\n ".join(f"<{r}>" for r in references)))
        else:
            references, parent = [], ""

        label, codec = _fit(f"{subject}\n{text}", label, codec)
        subject_header = (
            subject
            if subject.isascii()
            else encoded_words(
                subject,
                label if codec != "ascii" else "UTF-8",
                codec if codec != "ascii" else "utf-8",
                q=rng.random() < 0.25,
            )
        )
        cc = []
        if rng.random() < 0.08:
            other = rng.choice(self.customers)
            if other.address != customer.address:
                cc.append(
                    self._address_header(
                        other.name, other.address, label, codec if codec != "ascii" else "utf-8"
                    )
                )
        top = [
            (
                "Received",
                f"from mx{seq % 7}.{customer.address.split('@')[1]} (unknown "
                f"[203.0.113.{seq % 250}]) by mx.kefu-bench.example with ESMTPS id {seq:08X}; "
                f"{when:%a, %d %b %Y %H:%M:%S} +0000",
            ),
            ("Return-Path", f"<{customer.address}>"),
            ("Date", f"{(when + timedelta(hours=8)):%a, %d %b %Y %H:%M:%S} +0800"),
            (
                "From",
                self._address_header(
                    customer.name, customer.address, label, codec if codec != "ascii" else "utf-8"
                ),
            ),
            ("To", f"kefu <{SUPPORT}>"),
            *([("Cc", ", ".join(cc))] if cc else []),
            ("Subject", subject_header),
            ("Message-ID", f"<{message_id}>"),
            ("MIME-Version", "1.0"),
            *headers,
        ]
        if rng.random() < 0.3:
            top.append(
                (
                    "X-Mailer",
                    rng.choice(
                        [
                            "Foxmail 7.2.25.228[cn]",
                            "Microsoft Outlook 16.0",
                            "Apple Mail (2.3731.700.6)",
                            "QQMail 2.x",
                        ]
                    ),
                )
            )

        filenames: list[str] = []
        body: bytes
        if kind in ("plain_en", "plain", "legacy_zh", "auto_reply") and not (
            kind == "legacy_zh" and rng.random() < 0.35
        ):
            ctype, body = self._text_part(text, label, codec, eol)
            top += ctype
        elif kind in ("alternative", "legacy_zh"):
            boundary = f"----=_Part_{seq}_{rng.randrange(10**9)}"
            top.append(("Content-Type", f'multipart/alternative;\n boundary="{boundary}"'))
            body = self._multipart(
                boundary,
                [
                    self._text_part(text, label, codec, eol),
                    self._html_part(text, label, codec, eol),
                ],
                eol,
            )
        elif kind == "html_only":
            ctype, body = self._html_part(text, label, codec, eol)
            top += ctype
        elif kind == "related":
            cid = f"img{seq}.{rng.randrange(10**6)}@kefu-bench"
            boundary = f"----=_Related_{seq}"
            alt = f"----=_Alt_{seq}"
            inner = self._multipart(
                alt,
                [
                    self._text_part(text, label, codec, eol),
                    self._html_part(text, label, codec, eol, cid=cid),
                ],
                eol,
            )
            image = png(rng, rng.randint(8, 24))
            parts = [
                ([("Content-Type", f'multipart/alternative;\n boundary="{alt}"')], inner),
                (
                    [
                        ("Content-Type", 'image/png; name="image001.png"'),
                        ("Content-Transfer-Encoding", "base64"),
                        ("Content-ID", f"<{cid}>"),
                        ("Content-Disposition", 'inline; filename="image001.png"'),
                    ],
                    b64_lines(image, eol),
                ),
            ]
            top.append(
                (
                    "Content-Type",
                    f'multipart/related;\n type="multipart/alternative";\n boundary="{boundary}"',
                )
            )
            body = self._multipart(boundary, parts, eol)
            filenames.append("image001.png")
        else:  # attachments, large
            boundary = f"----=_Mixed_{seq}_{rng.randrange(10**9)}"
            first = (
                self._text_part(text, label, codec, eol)
                if rng.random() < 0.6
                else (
                    [("Content-Type", f'multipart/alternative;\n boundary="{boundary}a"')],
                    self._multipart(
                        f"{boundary}a",
                        [
                            self._text_part(text, label, codec, eol),
                            self._html_part(text, label, codec, eol),
                        ],
                        eol,
                    ),
                )
            )
            parts = [first]
            count = 1 if kind == "large" else rng.choices([1, 2, 3], [60, 30, 10])[0]
            for index in range(count):
                part, filename = self._attachment(
                    index, text_lang, label, codec, eol, large=kind == "large" and index == 0
                )
                parts.append(part)
                filenames.append(filename)
            top.append(("Content-Type", f'multipart/mixed;\n boundary="{boundary}"'))
            body = self._multipart(boundary, parts, eol)

        head = eol.join(f"{name}: {value}".replace("\n", eol) for name, value in top)
        raw = head.encode("ascii") + eol.encode() + eol.encode() + body
        thread = (subject, message_id, references, probe)
        if kind != "auto_reply":
            if reply_to_thread is not None:
                customer.threads[reply_to_thread] = thread
            else:
                customer.threads.append(thread)
        return Item(
            name=f"{seq:05d}.eml",
            kind=kind if kind != "legacy_zh" else f"zh-{label}/{codec}",
            raw=raw,
            subject=subject,
            probe=probe,
            filenames=filenames,
            message_id=message_id,
            parent=parent,
            quoted=quoted,
        )

    def _legacy_charset(self, lang: str) -> tuple[str, str]:
        rng = self.rng
        if lang in ("hant", "hk"):
            options = [c for c in CHARSETS if c[1].startswith("big5")]
            if lang == "hant":
                options = [c for c in options if c[1] == "big5"]
        else:
            options = [c for c in CHARSETS if c[1].startswith("gb")]
        label, codec, _w = rng.choices(options, [w for *_x, w in options])[0]
        return label, codec

    def _text_part(
        self, text: str, label: str, codec: str, eol: str
    ) -> tuple[list[tuple[str, str]], bytes]:
        rng = self.rng
        if codec == "ascii":
            cte = "7bit"
        elif codec == "utf-8":
            cte = rng.choice(["8bit", "base64", "quoted-printable"])
        else:
            cte = rng.choices(["8bit", "base64", "quoted-printable"], [5, 4, 1])[0]
        flowed = "; format=flowed" if rng.random() < 0.1 and cte == "7bit" else ""
        return (
            [
                ("Content-Type", f"text/plain; charset={label}{flowed}"),
                ("Content-Transfer-Encoding", cte),
            ],
            body_bytes(text, codec, cte, eol),
        )

    def _html_part(
        self, text: str, label: str, codec: str, eol: str, cid: str = ""
    ) -> tuple[list[tuple[str, str]], bytes]:
        rng = self.rng
        paragraphs = "".join(
            f'<p style="margin:0">{line}</p>' if line.strip() else "<p>&nbsp;</p>"
            for line in text.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .split("\n")
        )
        image = f'<p><img src="cid:{cid}" width="24" height="24" alt=""></p>' if cid else ""
        html = (
            f'<html><head><meta http-equiv="Content-Type" content="text/html; '
            f'charset={label}"><style>p{{font-family:"Microsoft YaHei"}}</style></head>'
            f"<body><div>{paragraphs}</div>{image}"
            f"<script>track()</script></body></html>"
        )
        cte = (
            "base64"
            if codec not in ("ascii", "utf-8") and rng.random() < 0.5
            else ("quoted-printable" if codec != "ascii" else "7bit")
        )
        return (
            [("Content-Type", f"text/html; charset={label}"), ("Content-Transfer-Encoding", cte)],
            body_bytes(html, codec, cte, eol),
        )

    def _attachment(
        self, index: int, lang: str, label: str, codec: str, eol: str, large: bool
    ) -> tuple[tuple[list[tuple[str, str]], bytes], str]:
        rng = self.rng
        kind = rng.choices(["png", "csv", "pdf", "docx"], [35, 25, 25, 15])[0]
        if large:
            kind = rng.choice(["pdf", "zip"])
        stem = {
            "en": ["screenshot", "invoice", "order details", "receipt"],
            "hant": ["截圖", "發票", "訂單明細", "收據"],
            "hk": ["截圖", "發票", "訂單明細", "收據"],
        }.get(lang, ["截图", "发票", "订单明细", "付款凭证"])
        filename = f"{rng.choice(stem)}-{self.seq:05d}-{index}.{kind}"
        if large:
            data = rng.randbytes(rng.randint(200_000, 1_200_000))
            ctype = "application/pdf" if kind == "pdf" else "application/zip"
        elif kind == "png":
            data, ctype = png(rng, rng.randint(16, 40)), "image/png"
        elif kind == "csv":
            rows = ["订单号,商品,数量,金额"] + [
                f"{rng.randrange(10**9)},商品{n},{rng.randint(1, 9)},{rng.randint(10, 999)}.00"
                for n in range(rng.randint(20, 120))
            ]
            enc = codec if codec not in ("ascii", "big5", "big5hkscs") else "utf-8"
            data, ctype = ("\r\n".join(rows) + "\r\n").encode(enc), "text/csv"
        elif kind == "pdf":
            data = b"%PDF-1.4\n" + rng.randbytes(rng.randint(1500, 6000)) + b"\n%%EOF\n"
            ctype = "application/pdf"
        else:
            data = b"PK\x03\x04" + rng.randbytes(rng.randint(2000, 8000))
            ctype = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        if filename.isascii():
            disposition = f'attachment; filename="{filename}"'
            content_type = f'{ctype}; name="{filename}"'
        else:
            style = rng.choices(["2231", "2231split", "word", "both"], [35, 15, 30, 20])[0]
            fcharset, fcodec = (label, codec) if codec not in ("ascii",) else ("UTF-8", "utf-8")
            if rng.random() < 0.5:
                fcharset, fcodec = "UTF-8", "utf-8"
            try:
                filename.encode(fcodec)
            except UnicodeEncodeError:
                fcharset, fcodec = "UTF-8", "utf-8"
            word = encoded_words(filename, fcharset, fcodec).replace("\n ", "")
            if style in ("2231", "2231split"):
                param = rfc2231(filename, fcharset, fcodec, style == "2231split")
                disposition = f"attachment;\n {param}"
                content_type = ctype
            elif style == "word":  # what many Chinese clients send (not standard, common)
                disposition = f'attachment; filename="{word}"'
                content_type = f'{ctype}; name="{word}"'
            else:
                disposition = f"attachment; {rfc2231(filename, fcharset, fcodec, False)}"
                content_type = f'{ctype}; name="{word}"'
        headers = [
            ("Content-Type", content_type),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", disposition),
        ]
        return (headers, b64_lines(data, eol)), filename

    @staticmethod
    def _multipart(
        boundary: str, parts: list[tuple[list[tuple[str, str]], bytes]], eol: str
    ) -> bytes:
        out = [f"This is a multi-part message in MIME format.{eol}".encode()]
        for headers, body in parts:
            head = eol.join(f"{n}: {v}".replace("\n", eol) for n, v in headers)
            out.append(f"{eol}--{boundary}{eol}{head}{eol}{eol}".encode() + body)
        out.append(f"{eol}--{boundary}--{eol}".encode())
        return b"".join(out)


UPGRADE = {
    "ascii": "utf-8",
    "gb2312": "gbk",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "big5hkscs": "utf-8",
}


def _fit(text: str, label: str, codec: str) -> tuple[str, str]:
    """The codec that can encode ``text``: GB2312 text with a GBK character stays labeled
    GB2312 (the classic mislabel); ASCII becomes UTF-8."""
    while True:
        try:
            text.encode(codec)
            return label, codec
        except UnicodeEncodeError:
            codec = UPGRADE[codec]
            if codec == "utf-8":
                label = "UTF-8"


def shared_corpus(path: Path = SHARED_CORPUS) -> list[Path]:
    return sorted(p for p in path.rglob("*.eml") if p.is_file())


def stream(messages: int, seed: int = SEED, corpus: Path | None = SHARED_CORPUS) -> Iterator[Item]:
    """``messages`` messages in delivery order: the shared corpus (if given) spread evenly
    among generated ones."""
    real = shared_corpus(corpus) if corpus is not None and corpus.is_dir() else []
    real = real[:messages]
    generator = Generator(seed)
    slots = {round((i + 0.5) * messages / len(real)): p for i, p in enumerate(real)} if real else {}
    for position in range(messages):
        path = slots.get(position)
        if path is not None:
            yield Item(
                name=f"{position + 1:05d}.eml",
                kind="corpus",
                raw=path.read_bytes(),
                source=str(path.relative_to(corpus)),
            )
        else:
            item = generator.message()
            item.name = f"{position + 1:05d}.eml"
            yield item


def write(out: Path, messages: int, seed: int = SEED, corpus: Path | None = SHARED_CORPUS) -> Path:
    """Write the stream to ``out`` and return the manifest's path."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.jsonl"
    with manifest.open("w", encoding="utf-8") as handle:
        for item in stream(messages, seed, corpus):
            (out / item.name).write_bytes(item.raw)
            row = {
                "file": item.name,
                "kind": item.kind,
                "size": len(item.raw),
                "source": item.source,
                "subject": item.subject,
                "probe": item.probe,
                "filenames": item.filenames,
                "message_id": item.message_id,
                "parent": item.parent,
                "quoted": item.quoted,
            }
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--corpus", type=Path, default=SHARED_CORPUS)
    args = parser.parse_args(argv)
    manifest = write(args.out, args.messages, args.seed, args.corpus)
    print(f"wrote {args.messages} messages and {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
