"""Agent productivity in a real browser: a macro typed as /shortcut in the reply box fills in
the customer's name and memory and applies its actions; the SLA countdown on the conversation
page ticks down and turns red (the page clock is driven by Playwright: no real waiting)."""

from __future__ import annotations

import subprocess

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import KEFU, kefu_server
from tests.e2e.test_workspace import login

pytestmark = pytest.mark.e2e

SEED = """
from django.contrib.auth.models import User
from kefu.conversations import actions
from kefu.customers.models import Customer
from kefu.service.models import CannedReply, SlaPolicy
from kefu.staff.models import Team

agent = User.objects.get(username="li.na")
CannedReply.objects.create(owner=agent, shortcut="tea", title="问候（个人）",
    body="{{customer.name}}您好，记得您{{customer.preferences.personal|—}}。我是{{agent.name}}。",
    add_tags="macro-used", set_priority="high")
CannedReply.objects.create(shortcut="thanks", title="致谢",
    body="感谢您的耐心，{{customer.name}}。")
SlaPolicy.objects.create(name="VIP 首响", tiers="vip", first_response_minutes=10,
    resolution_minutes=600, warn_percent=50)
actions.open_conversation(customer=Customer.objects.get(name="张伟"), channel="web",
    team=Team.objects.get(slug="aftersales"), subject="宏测试：水箱漏水", body_text="水箱漏水了。")
"""


@pytest.fixture(scope="module")
def macro_base(kefu_env):
    subprocess.run([*KEFU, "shell", "-v0", "-c", SEED], env=kefu_env, check=True)
    with kefu_server(kefu_env, name="macros") as base:
        yield base


def test_macro_by_shortcut_in_the_reply_box(macro_base, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, macro_base, "li.na", "pw-li-na-123")
    page.locator(".conv-row", has_text="宏测试：水箱漏水").locator("a").click()
    page.wait_for_selector("body[data-ws-ready]")

    box = page.locator("#reply-form textarea")
    box.click()
    box.press_sequentially("稍等。/te")
    menu = page.locator("#canned-menu")
    menu.locator("li", has_text="/tea").wait_for()
    assert menu.locator("li").count() == 1  # "/te" matches only the personal macro
    assert "★" in menu.inner_text()
    box.press("Enter")  # picks it (does not send the reply)
    expect(box).to_have_value("稍等。张伟您好，记得您喜欢喝茶。我是李娜。")
    # Its actions went through the conversation actions: the side panel shows them.
    page.locator("#conv-props .tag", has_text="macro-used").wait_for()
    expect(page.locator("#conv-props select[name=priority]")).to_have_value("high")
    assert page.locator(".msg-out").count() == 0  # nothing was sent

    # The shared macro works in the internal-note box too.
    page.click("[data-tab=note-form]")
    note = page.locator("#note-form textarea")
    note.press_sequentially("/thanks")
    page.locator("#canned-menu li", has_text="/thanks").wait_for()
    page.locator("#canned-menu li", has_text="/thanks").click()
    expect(note).to_have_value("感谢您的耐心，张伟。")
    assert errors == []
    context.close()


def test_sla_countdown_on_the_conversation_page(macro_base, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.clock.install()
    login(page, macro_base, "li.na", "pw-li-na-123")
    page.locator(".conv-row", has_text="宏测试：水箱漏水").locator("a").click()
    page.wait_for_selector("#sla-prop .sla")
    badge = page.locator("#sla-prop .sla")
    left = badge.locator(".sla-left")
    assert "sla-ok" in badge.get_attribute("class")
    start = left.inner_text()
    assert start in ("0:10", "0:09", "0:08")
    page.clock.run_for("02:00")
    assert left.inner_text() != start  # it ticks on the page, without a reload
    page.clock.run_for("04:00")  # past 50 % of ten minutes
    assert "sla-near" in badge.get_attribute("class")
    page.clock.run_for("06:00")
    assert "sla-breached" in badge.get_attribute("class")
    assert left.inner_text().startswith("−")
    assert errors == []
    context.close()
