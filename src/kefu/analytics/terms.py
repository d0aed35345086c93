"""Trending terms: words and phrases of the week's conversations (subject and the customer's
messages), segmented with jieba, weighed against a baseline of the weeks before.

:class:`TermWeek` holds, per week (Monday) and product (a conversation tag, or "" for all), how
many conversations mention each term. ``trending`` scores a week's terms by their share against
the baseline's (smoothed), and lists the ones never seen before as "new this week".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from kefu.analytics.models import TermWeek
from kefu.conversations.models import Conversation, Message

BASELINE_WEEKS = 8
MIN_COUNT = 2
WORD = re.compile(r"^[\w\u4e00-\u9fff]+$")
CJK = re.compile(r"^[\u4e00-\u9fff]+$")
_STOP_WORDS = """
    的 了 在 是 我 有 和 就 不 人 都 一 一个 上 也 很 到 说 要 去 你 会 着 没有 看 好 自己 这
    那 他 她 它 们 我们 你们 他们 这个 那个 什么 怎么 为什么 吗 吧 呢 啊 哦 嗯 呀 请 请问 谢谢
    您好 你好 麻烦 一下 可以 能 能否 是否 已经 还是 还 但是 但 因为 所以 如果 或者 以及 还有
    就是 没 给 让 把 被 对 从 与 及 等 之 其 或 并 而 又 再 才 只 太 更 最 非常 比较 现在 今天
    昨天 明天 时候 问题 情况 一直 需要 以后 之后 然后 显示 出现 感觉 觉得 应该 东西 可能 知道
    怎么办 帮忙 还要 而且
    the a an and or of to in on for is are was it this that with be have has i you we my your
    please hi hello thanks thank can could would not no do does did at as by from our me
"""
STOP = frozenset(_STOP_WORDS.split())


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def terms_of(text: str) -> set[str]:
    import jieba

    out = set()
    previous = ""
    for word in jieba.lcut(text.lower()):
        word = word.strip()
        if len(word) < 2 or word in STOP or word.isdigit() or not WORD.match(word):
            previous = ""
            continue
        out.add(word[:64])
        # Phrases: two adjacent Chinese words ("固件" + "升级" → "固件升级").
        if previous and CJK.match(previous) and CJK.match(word):
            out.add((previous + word)[:64])
        previous = word
    return out


def _week_bounds(week: date) -> tuple[datetime, datetime]:
    zone = timezone.get_default_timezone()
    start = datetime.combine(week, time.min, tzinfo=zone)
    return start, start + timedelta(days=7)


def count_week(week: date) -> dict[tuple[str, str], int]:
    """(term, product) → conversations of the week mentioning it."""
    start, end = _week_bounds(week)
    texts: dict[int, list[str]] = {}
    for pk, subject in Conversation.objects.filter(
        created_at__gte=start, created_at__lt=end
    ).values_list("pk", "subject"):
        texts[pk] = [subject]
    if not texts:
        return {}
    for cid, body in (
        Message.objects.filter(
            created_at__gte=start,
            created_at__lt=end + timedelta(days=2),
            conversation_id__in=list(texts),
            direction=Message.Direction.IN,
        )
        .order_by()
        .values_list("conversation_id", "body_text")
    ):
        texts[cid].append(body[:2000])
    tags: dict[int, list[str]] = {}
    through = Conversation.tags.through
    for cid, name in through.objects.filter(conversation_id__in=list(texts)).values_list(
        "conversation_id", "tag__name"
    ):
        tags.setdefault(cid, []).append(name)
    counts: Counter[tuple[str, str]] = Counter()
    for cid, parts in texts.items():
        words = terms_of(" ".join(parts))
        for word in words:
            counts[(word, "")] += 1
            for tag in tags.get(cid, ()):
                counts[(word, tag[:64])] += 1
    return dict(counts)


def refresh_week(week: date) -> int:
    week = monday(week)
    counts = count_week(week)
    with transaction.atomic():
        TermWeek.objects.filter(week=week).delete()
        TermWeek.objects.bulk_create(
            [
                TermWeek(week=week, term=term, product=product, conversations=n)
                for (term, product), n in counts.items()
            ],
            batch_size=2000,
        )
    return len(counts)


def refresh_recent_weeks(weeks: int = 2) -> None:
    this = monday(timezone.localdate())
    for i in range(weeks):
        refresh_week(this - timedelta(weeks=i))


def rebuild(weeks: int = 26) -> int:
    this = monday(timezone.localdate())
    return sum(refresh_week(this - timedelta(weeks=i)) for i in range(weeks + BASELINE_WEEKS))


def trending(week: date, product: str = "", limit: int = 15) -> dict[str, Any]:
    """The week's rising terms (score: log-ratio of the week's share to the baseline's) and
    the terms new this week (absent from the baseline)."""
    week = monday(week)
    base_start = week - timedelta(weeks=BASELINE_WEEKS)
    current = dict(
        TermWeek.objects.filter(week=week, product=product).values_list("term", "conversations")
    )
    baseline = dict(
        TermWeek.objects.filter(week__gte=base_start, week__lt=week, product=product)
        .values_list("term")
        .annotate(n=Sum("conversations"))
        .values_list("term", "n")
    )
    total_now = sum(current.values()) or 1
    total_base = sum(baseline.values()) or 1
    rising, new = [], []
    for term, n in current.items():
        if n < MIN_COUNT:
            continue
        before = baseline.get(term, 0)
        ratio = ((n + 0.5) / total_now) / ((before + 0.5) / total_base)
        score = round(math.log(ratio) * math.sqrt(n), 2)
        item = {"term": term, "count": n, "baseline": before, "score": score}
        if before == 0:
            new.append(item)
        if score > 0:
            rising.append(item)
    rising.sort(key=lambda i: -i["score"])
    new.sort(key=lambda i: -i["count"])
    return {"week": week.isoformat(), "rising": rising[:limit], "new": new[:limit]}
