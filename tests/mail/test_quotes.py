"""split_quoted: reply markers of Chinese (simplified and traditional) and English clients."""

from __future__ import annotations

import pytest

from kefu.mail.quotes import split_quoted

NEW = "好的，收到了，谢谢！"


@pytest.mark.parametrize(
    "quote",
    [
        # Outlook (simplified Chinese and English), Foxmail, QQ Mail, NetEase
        "-----原始邮件-----\n发件人: 客服 <support@kefu.test>\n发送时间: 2026年1月2日 10:00\n"
        "收件人: 张三\n主题: 回复: 订单\n\n您好",
        "-----邮件原件-----\n发件人: 客服\n发送时间: 2026年1月2日 10:00\n主题: 订单\n\n您好",
        "-----Original Message-----\nFrom: Support\nSent: Friday\nTo: me\nSubject: RE: x\n\nhi",
        "----- Original Message -----\nFrom: Support\n\nhi",
        "-------- 原始邮件 --------\n发件人：客服\n\n您好",
        "------------------ 原始邮件 ------------------\n"
        '发件人: "客服"<support@kefu.test>;\n发送时间: 2026年1月2日(星期五) 上午10:00\n'
        '收件人: "张三"<z@qq.com>;\n主题: 回复: 订单\n\n您好',
        "------------------&nbsp;原始邮件&nbsp;------------------".replace("&nbsp;", " ")
        + "\n发件人: x",
        # traditional Chinese
        "-----原始郵件-----\n寄件者: 客服\n寄件日期: 2026年1月2日\n收件者: 陳\n主旨: 訂單\n\n您好",
        # attributions
        "在 2026年1月2日 星期五 10:00，客服 <support@kefu.test> 写道：\n> 您好",
        '在 2026-01-02 10:00:00，"客服" <support@kefu.test> 写道:\n> 您好',
        "於 2026年1月2日 週五 上午10:00，客服 <support@kefu.test> 寫道：\n> 您好",
        "客服 <support@kefu.test> 于2026年1月2日周五 10:00写道：\n\n> 您好",
        "On Fri, Jan 2, 2026 at 10:00 AM Support <support@kefu.test> wrote:\n> hello",
        "On Fri, Jan 2, 2026 at 10:00 AM Support Team of a Long Company Name <\n"
        "support@kefu.test> wrote:\n> hello",
        "On 2026-01-02 10:00, Support wrote:\n>hello",
        "在 2026年1月2日 星期五 上午10:00，客服中心\n<support@kefu.test> 写道：\n> 您好",
        # Outlook header block under a rule, English and Chinese
        "________________________________\nFrom: Support <support@kefu.test>\n"
        "Sent: Friday, January 2, 2026 10:00 AM\nTo: Me <me@example.com>\n"
        "Subject: RE: order\n\nold",
        "________________________________\n发件人: 客服 <support@kefu.test>\n"
        "发送时间: 2026年1月2日 10:00\n收件人: 我\n主题: 回复: 订单\n\n旧内容",
        "From: Support <support@kefu.test>\nSent: Friday\nTo: me\nSubject: order\n\nold",
        "**From:** Support\n**Sent:** Friday\n**To:** me\n**Subject:** order\n\nold",
        # trailing quote block without attribution
        "> 您好，您的订单已发货。\n> \n> 客服",
    ],
)
def test_reply_markers(quote):
    text = f"{NEW}\n\n{quote}\n"
    shown, quoted = split_quoted(text)
    assert shown == NEW
    assert quoted.startswith(quote.split("\n", 1)[0])
    assert text.startswith(shown)
    assert text.endswith(quoted)


def test_signature_delimiter_moves_the_signature_to_quoted():
    text = "请尽快处理。\n\n-- \n张三\n某某公司 客服部\n"
    assert split_quoted(text) == ("请尽快处理。", "-- \n张三\n某某公司 客服部\n")


def test_signature_before_the_quote_cuts_at_the_signature():
    text = "Thanks\n-- \nJohn\n\nOn Fri, Jan 2, 2026, Support wrote:\n> hi\n"
    shown, quoted = split_quoted(text)
    assert shown == "Thanks"
    assert quoted.startswith("-- \nJohn")


def test_two_dashes_without_the_space_are_not_a_signature():
    assert split_quoted("a\n--\nb") == ("a\n--\nb", "")


def test_attribution_right_above_a_trailing_quote_goes_with_it():
    text = "ok\n\nSupport said earlier:\n> hi\n> there\n"
    shown, quoted = split_quoted(text)
    assert shown == "ok\n\nSupport said earlier:"
    assert quoted == "> hi\n> there\n"


def test_inline_replies_are_not_cut():
    text = "> 问题一？\n回答一\n> 问题二？\n回答二\n"
    assert split_quoted(text) == (text, "")


def test_message_starting_with_a_marker_is_kept_whole():
    for text in (
        "-----原始邮件-----\n发件人: 客服\n\n您好",
        "On Fri, Jan 2, 2026, Support wrote:\n> hi",
        "> only a quote\n> nothing else",
        "\n\n-- \njust a signature",
    ):
        assert split_quoted(text) == (text, "")


def test_no_marker_no_quote():
    text = "您好，我的订单 KF-1001 一周了还没到。\n请帮忙查一下。"
    assert split_quoted(text) == (text, "")
    assert split_quoted("") == ("", "")


def test_prose_that_mentions_markers_is_not_cut():
    text = (
        "我在说明书里读到“在使用前请先阅读”，他写道：这个问题要找客服。\n"
        "From: what I understand, the order was shipped.\n"
        "On the other hand, nothing arrived.\n"
        "还有一个问题。"
    )
    assert split_quoted(text) == (text, "")


def test_windows_line_endings_are_kept():
    text = "好的\r\n\r\n-----原始邮件-----\r\n发件人: 客服\r\n"
    shown, quoted = split_quoted(text)
    assert shown == "好的"
    assert quoted == "-----原始邮件-----\r\n发件人: 客服\r\n"


def test_only_the_first_marker_counts():
    text = (
        "第三次回复\n\n-----原始邮件-----\n发件人: 客服\n发送时间: 昨天\n主题: 回复\n\n第二次\n\n"
        "在 2026年1月1日，张三 写道：\n> 第一次"
    )
    shown, quoted = split_quoted(text)
    assert shown == "第三次回复"
    assert "第二次" in quoted and "第一次" in quoted
