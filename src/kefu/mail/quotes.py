"""Folding away the quoted history and the signature of an email reply.

:func:`split_quoted` finds the first line where the quoted part of a reply begins, as Chinese
and English mail clients write it (Outlook, Foxmail, QQ Mail, NetEase, Gmail, Apple Mail,
Thunderbird), and cuts there. The full text is always ``shown + quoted``; nothing is lost.
"""

from __future__ import annotations

import re

# "-----原始邮件-----", "-----Original Message-----", "-------- 原始邮件 --------",
# "------------------ 原始邮件 ------------------" (QQ Mail), "-----邮件原件-----" (Outlook zh)
_SEPARATOR = re.compile(
    r"^\s*[-_=*]{2,}\s*(原始邮件|原始郵件|邮件原件|郵件原件|原邮件|原郵件|原始信件|原始訊息|"
    r"回复的原邮件|Original\s+Message|Original\s+Mail|Reply\s+Message)\s*[-_=*]{2,}\s*$",
    re.I,
)
# Outlook draws a line of underscores above the header block of the quoted message.
_RULE = re.compile(r"^\s*(_{10,}|-{10,}|={10,})\s*$")
# "在 2026年1月2日 星期五 10:00，张三 <a@b.cn> 写道：", "於 2026/1/2 10:00, 陳 寫道:",
# Gmail: "张三 <a@b.cn> 于2026年1月2日周五 10:00写道："
_ZH_WROTE_END = re.compile(r"(写道|寫道|写到|寫到)\s*[:：]\s*$")
_ZH_WROTE_START = re.compile(r"^\s*(在|於|于)\s*\S")
# "On Fri, Jan 2, 2026 at 10:00 AM, John <john@example.com> wrote:"
_EN_WROTE_END = re.compile(r"\bwrote\s*:\s*$", re.I)
_EN_WROTE_START = re.compile(r"^\s*On\s+\S", re.I)
# header blocks of a quoted message (Outlook, Foxmail, QQ Mail)
_FROM = re.compile(r"^\s*\**\s*(From|发件人|發件人|寄件者|寄件人)\s*\**\s*[:：]", re.I)
_HEADER = re.compile(
    r"^\s*\**\s*(Sent|Date|To|Cc|Subject|发送时间|發送時間|日期|时间|時間|寄件日期|收件人|收件者|"
    r"抄送|副本|主题|主題|主旨)\s*\**\s*[:：]",
    re.I,
)
_SIGNATURE = "-- "
_MAX_ATTRIBUTION = 300  # an attribution line is short; longer lines are the customer's prose


def _bare(line: str) -> str:
    return line.rstrip("\r\n")


def _is_header_block(lines: list[str], start: int) -> bool:
    """A "From:" line followed closely by at least two more header lines."""
    if not _FROM.match(lines[start]):
        return False
    found = 0
    for line in lines[start + 1 : start + 8]:
        if not line.strip():
            if found:
                break
            continue
        if _HEADER.match(line):
            found += 1
    return found >= 2


def _wrote_line(lines: list[str], index: int) -> bool:
    """An attribution ("在 … 写道：", "On … wrote:"), possibly wrapped over up to three lines."""
    line = lines[index]
    if len(line) > _MAX_ATTRIBUTION:
        return False
    if _ZH_WROTE_END.search(line):
        return bool(_ZH_WROTE_START.match(line) or "@" in line or re.search(r"\d", line))
    if _EN_WROTE_END.search(line):
        return bool(_EN_WROTE_START.match(line) or "@" in line)
    start_zh = _ZH_WROTE_START.match(line)
    start_en = _EN_WROTE_START.match(line)
    if not (start_zh or start_en):
        return False
    ending = _ZH_WROTE_END if start_zh else _EN_WROTE_END
    joined = line
    for following in lines[index + 1 : index + 3]:
        if not following.strip():
            return False
        joined += " " + following
        if len(joined) > _MAX_ATTRIBUTION:
            return False
        if ending.search(following):
            return True
    return False


def _quote_tail(lines: list[str]) -> int | None:
    """Where a trailing block of "> " lines begins (only when nothing but quotes follows)."""
    start = None
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if not line.strip():
            continue
        if line.lstrip().startswith(">"):
            start = index
        else:
            break
    return start


def _marker(lines: list[str], index: int) -> int | None:
    """If a quote or signature starts at ``index``, the line where the cut goes."""
    line = lines[index]
    if line == _SIGNATURE or _SEPARATOR.match(line) or _wrote_line(lines, index):
        return index
    if _is_header_block(lines, index):
        # cut above an Outlook rule or a blank line directly over the block
        above = index - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        if above >= 0 and (_RULE.match(lines[above]) or _SEPARATOR.match(lines[above])):
            return above
        return index
    return None


def split_quoted(text: str) -> tuple[str, str]:
    """Split a reply into (shown, quoted): the new text, and the quoted history plus the
    signature from the first reply marker on. When nothing precedes the first marker (a
    forward without comment, a message that starts with a quote), everything is shown."""
    if not text:
        return "", ""
    raw_lines = text.splitlines(keepends=True)
    lines = [_bare(line) for line in raw_lines]
    cut = None
    for index in range(len(lines)):
        cut = _marker(lines, index)
        if cut is not None:
            break
    tail = _quote_tail(lines)
    if tail is not None and (cut is None or tail < cut):
        # an attribution line right above the quoted block belongs to it
        above = tail - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        cut = above if above >= 0 and _wrote_line(lines, above) else tail
    if cut is None:
        return text, ""
    shown = "".join(raw_lines[:cut])
    if not shown.strip():
        return text, ""
    return shown.rstrip(), "".join(raw_lines[cut:])
