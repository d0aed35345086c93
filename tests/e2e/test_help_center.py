"""The public help center in chromium: a traditional-Chinese reader finds the simplified
returns article (suggestions while typing, then the results page), reads it and says it
helped; the page works at phone size; an agent sees the article suggested beside a
conversation and inserts its link into the reply."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import KEFU, kefu_server

pytestmark = pytest.mark.e2e

SHOTS = Path(os.environ.get("KEFU_SCREENSHOTS", "test-results"))
SEED_KB = "from kefu.demo import ensure_kb_demo; ensure_kb_demo()"


@pytest.fixture(scope="module")
def help_base(kefu_env: dict[str, str]) -> Iterator[str]:
    from kefu.core.i18n import compile_catalogs

    compile_catalogs()  # `kefu run` serves the catalogs as compiled by `kefu setup`
    subprocess.run([*KEFU, "shell", "-v0", "-c", SEED_KB], env=kefu_env, check=True)
    with kefu_server(kefu_env, name="help") as base:
        yield base


def test_traditional_search_finds_the_simplified_article(help_base, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-TW")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    SHOTS.mkdir(exist_ok=True)

    page.goto(help_base + "/help/?lang=zh-hant")
    assert page.locator("html").get_attribute("lang") == "zh-hant"
    assert page.locator(".hc-cat h2", has_text="退貨與退款").count() == 1
    page.screenshot(path=str(SHOTS / "help-home.png"), full_page=True)

    # Suggestions while typing.
    page.click("#hc-q")
    page.keyboard.type("怎麼退貨", delay=40)
    first_suggestion = page.locator("#hc-suggest li .t").first
    first_suggestion.wait_for()
    assert first_suggestion.inner_text() == "如何申请退货"
    assert page.locator("#hc-suggest mark").count() >= 1
    page.screenshot(path=str(SHOTS / "help-suggest.png"))

    # The results page: the simplified returns article first.
    page.press("#hc-q", "Enter")  # no suggestion chosen: the form is sent
    page.wait_for_url("**/help/search?q=*")
    assert page.locator(".hc-result-title").first.inner_text() == "如何申请退货"
    page.screenshot(path=str(SHOTS / "help-search.png"), full_page=True)

    page.locator(".hc-result-title").first.click()
    page.wait_for_selector("article.hc-article h1")
    assert page.inner_text("article.hc-article h1") == "如何申请退货"
    page.click("#feedback button[value=yes]")
    page.wait_for_selector("#feedback .ok")
    page.fill("#fb-comment", "很清楚，谢谢")
    page.click("#feedback button[type=submit]")
    page.wait_for_selector("#feedback:has-text('意見')")
    page.screenshot(path=str(SHOTS / "help-article.png"), full_page=True)
    assert errors == []
    context.close()


def test_phone_size(help_base, browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        has_touch=True, locale="zh-CN",
    )  # fmt: skip
    page = context.new_page()
    page.goto(help_base + "/help/?lang=zh-hans")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    page.screenshot(path=str(SHOTS / "help-phone-home.png"), full_page=True)
    page.click(".hc-cat h2 a >> text=退货与退款")
    page.click("text=退款多久到账？")
    page.wait_for_selector("article.hc-article")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / "help-phone-article.png"), full_page=True)
    page.click("text=联系我们")
    page.fill("#id_email", "wang.fang@example.cn")
    page.fill("#id_message", "洗衣机漏水，怎么办？")
    page.click(".hc-form button[type=submit]")
    page.wait_for_selector("text=我们已收到您的消息")
    page.screenshot(path=str(SHOTS / "help-phone-contact.png"), full_page=True)
    context.close()


def test_agent_sees_the_article_beside_the_conversation(help_base, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(help_base + "/login/")
    page.fill("#id_username", "li.na")
    page.fill("#id_password", "pw-li-na-123")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.click("text=扫地机器人不充电")
    first = page.locator("#kb-panel .kb-s-title").first
    first.wait_for()
    assert first.inner_text().startswith("扫地机器人不充电怎么办")
    page.locator("#kb-panel [data-kb-insert]").first.click()
    reply = page.input_value("#reply-form textarea")
    assert "扫地机器人不充电怎么办" in reply and "/help/a/" in reply
    page.screenshot(path=str(SHOTS / "help-agent-panel.png"))
    context.close()
