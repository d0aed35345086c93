from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.analytics.models import TermWeek
from kefu.analytics.terms import monday, refresh_week, terms_of, trending
from kefu.conversations import actions
from kefu.conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


def test_terms_of_chinese_text_drop_stop_words():
    words = terms_of("你好，我的扫地机器人昨天开始不充电了")
    assert "充电" in words
    assert "你好" not in words and "我" not in words


def test_a_rising_defect_and_new_terms(customer):
    this_week = monday(timezone.localdate())
    weeks_ago = timezone.now() - timedelta(weeks=3)
    for i in range(4):
        old = actions.open_conversation(
            customer=customer, channel="web", subject=f"发票 {i}", body_text="需要开发票"
        )
        Conversation.objects.filter(pk=old.pk).update(created_at=weeks_ago)
        Message.objects.filter(conversation=old).update(created_at=weeks_ago)
    for i in range(3):
        actions.open_conversation(
            customer=customer, channel="web", subject=f"固件升级 {i}", body_text="App 连接失败"
        )
    for i in range(3):
        refresh_week(this_week - timedelta(weeks=i + 1))
    refresh_week(this_week)
    assert TermWeek.objects.filter(week=this_week, term="固件").get().conversations == 3
    data = trending(this_week)
    rising = [t["term"] for t in data["rising"]]
    assert "固件" in rising and "发票" not in rising
    assert "连接" in [t["term"] for t in data["new"]]
