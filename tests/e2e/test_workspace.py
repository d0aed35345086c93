"""An agent works a conversation in a real browser while the customer writes in meanwhile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SHOTS = Path(os.environ.get("KEFU_SCREENSHOTS", "test-results"))


def login(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_agent_replies_and_sees_customer_message_arrive_live(kefu_base, browser):
    base = kefu_base
    agent_ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    agent = agent_ctx.new_page()
    errors: list[str] = []
    agent.on("pageerror", lambda exc: errors.append(str(exc)))

    login(agent, base, "li.na", "pw-li-na-123")
    assert agent.url.endswith("/inbox/")
    assert agent.locator("html").get_attribute("lang") == "zh-hans"
    row = agent.locator(".conv-row", has_text="扫地机器人不充电")
    assert row.count() == 1
    SHOTS.mkdir(exist_ok=True)
    agent.screenshot(path=str(SHOTS / "inbox.png"))

    row.locator("a").click()
    agent.wait_for_selector("#thread")
    # The customer's memory is beside the conversation.
    assert "喜欢喝茶" in agent.inner_text("#memory")
    agent.wait_for_selector("body[data-ws-ready]")

    agent.fill("#reply-form textarea", "您好，请检查充电座的指示灯是否亮起。")
    agent.click("#reply-form button[type=submit]")
    agent.wait_for_selector(".msg-out:has-text('请检查充电座的指示灯')")
    agent.evaluate("window.__noReload = true")

    # Meanwhile the customer answers from the portal, in another browser.
    customer_ctx = browser.new_context(locale="zh-CN")
    customer = customer_ctx.new_page()
    login(customer, base, "zhang.wei", "pw-zhang-123")
    assert customer.url.endswith("/portal/")
    customer.click("text=扫地机器人不充电")
    assert "请检查充电座的指示灯" in customer.inner_text(".thread")
    customer.fill("textarea[name=body]", "指示灯不亮，已经换过插座了。")
    customer.click("form.composer button")
    customer.wait_for_load_state("networkidle")

    # It appears in the agent's thread without a reload.
    agent.wait_for_selector(".msg-in:has-text('指示灯不亮')", timeout=15000)
    assert agent.evaluate("window.__noReload") is True
    agent.screenshot(path=str(SHOTS / "conversation.png"))

    # Internal note and status change, through the same page.
    agent.click("[data-tab=note-form]")
    agent.fill("#note-form textarea", "可能是充电触点脏了，建议寄修。")
    agent.click("#note-form button[type=submit]")
    agent.wait_for_selector(".msg-note:has-text('充电触点')")
    events_before = agent.locator("#thread .event").count()
    agent.select_option("#conv-props select[name=status]", "pending")
    agent.wait_for_selector(
        "#conv-props select[name=status] option[value=pending][selected]", state="attached"
    )
    # The change shows in the thread at once, through the websocket.
    agent.wait_for_function(f"document.querySelectorAll('#thread .event').length > {events_before}")

    # The customer never sees the internal note.
    customer.reload()
    assert "充电触点" not in customer.inner_text(".thread")
    assert errors == []
    agent_ctx.close()
    customer_ctx.close()
