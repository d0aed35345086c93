"""The agents' knowledge base in chromium: a writer creates an article with the rich-text
editor (a heading, bold text, a list, an image uploaded from the toolbar), publishes it, and a
reader finds it in the public help center search, image included; the writer adds the
traditional version pre-filled by OpenCC and restores an older version."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import KEFU, kefu_server
from tests.e2e.test_workspace import login

pytestmark = pytest.mark.e2e

SHOTS = Path(os.environ.get("KEFU_SCREENSHOTS", "test-results"))
# li.na may write the knowledge base (kb.change_article); chen.wei is an agent who may not.
SEED = """
from django.contrib.auth.models import Permission, User
from kefu.staff.models import AgentProfile
li = User.objects.get(username="li.na")
li.user_permissions.add(Permission.objects.get(codename="change_article"))
reader = User.objects.create_user("chen.wei", password="pw-chen-wei-123")
AgentProfile.objects.create(user=reader, display_name="陈伟", language="zh-hans")
"""
PNG = base64.b64decode(  # a 2×2 red PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGO46cEPRAwQCgAkdgTBRV8DggAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def kb_base(kefu_env: dict[str, str]) -> Iterator[str]:
    from kefu.core.i18n import compile_catalogs

    compile_catalogs()
    subprocess.run([*KEFU, "shell", "-v0", "-c", SEED], env=kefu_env, check=True)
    with kefu_server(kefu_env, name="kb-editor") as base:
        yield base


def test_write_publish_and_find_in_the_help_center(kb_base, browser, tmp_path):
    SHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 950}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, kb_base, "li.na", "pw-li-na-123")

    page.click(".mainnav a[href='/kb/']")
    page.wait_for_url("**/kb/")
    page.click("a.btn.primary[href='/kb/new/']")
    page.fill("input[name=title]", "延长保修服务怎么购买")
    editable = page.locator(".kbe-editable")
    editable.click()
    page.click(".kbe-toolbar [data-block=h2]")
    page.keyboard.type("购买方式")
    page.keyboard.press("Enter")
    page.click(".kbe-toolbar [data-block=p]")
    page.keyboard.type("签收后三十天内可以购买")
    page.click(".kbe-toolbar [data-cmd=bold]")
    page.keyboard.type("延保卡")
    page.click(".kbe-toolbar [data-cmd=bold]")
    page.keyboard.type("。")
    page.keyboard.press("Enter")
    page.click(".kbe-toolbar [data-cmd=insertUnorderedList]")
    page.keyboard.type("一年延保")
    page.keyboard.press("Enter")
    page.keyboard.type("两年延保")
    page.fill("input[name=tags]", "延保, 保修")
    page.click("button[name=then][value=draft]")
    page.wait_for_url("**/kb/*/edit/")
    expect(page.locator(".page-head .status-pill")).to_have_text("草稿")

    # An image from the toolbar: uploaded, then shown in the text.
    image = tmp_path / "延保卡.png"
    image.write_bytes(PNG)
    page.locator(".kbe-editable li", has_text="两年延保").click()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.locator("[data-image-file]").set_input_files(str(image))
    page.locator(".kbe-editable img").wait_for()
    assert page.locator(".kbe-editable img").evaluate("i => i.naturalWidth") == 2
    page.screenshot(path=str(SHOTS / "kb-editor.png"), full_page=True)
    page.click("button[name=then][value=published]")
    page.wait_for_url("**/kb/*/edit/")
    expect(page.locator(".page-head .status-pill")).to_have_text("已发布")
    assert page.locator(".kbe-versions li").count() == 3  # the image, then the status
    body = page.locator(".kbe-editable").inner_html()
    assert "<h2>购买方式</h2>" in body and "<b>延保卡</b>" in body and "<li>两年延保</li>" in body

    # A reader finds it in the public help center, with its image.
    reader = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    help_page = reader.new_page()
    help_page.goto(kb_base + "/help/?lang=zh-hans")
    help_page.fill("#hc-q", "延保卡")
    help_page.press("#hc-q", "Enter")
    help_page.wait_for_url("**/help/search?q=*")
    result = help_page.locator(".hc-result-title", has_text="延长保修服务怎么购买")
    result.click()
    help_page.wait_for_selector("article.hc-article h1")
    assert help_page.locator(".hc-body h2").inner_text() == "购买方式"
    help_image = help_page.locator(".hc-body img")
    assert help_image.evaluate("i => i.complete && i.naturalWidth") == 2
    assert "/help/files/" in (help_image.get_attribute("src") or "")
    reader.close()

    # The traditional version, pre-filled by OpenCC, saved as a draft of its own.
    page.click(".kbe-siblings a.btn[href$='/translate/zh-hant/']")
    page.click(".kbe-siblings a.btn:has-text('简体中文')")
    expect(page.locator("input[name=title]")).to_have_value("延長保修服務怎麼購買")
    page.click("button[name=then][value=draft]")
    page.wait_for_url("**/kb/*/edit/")
    expect(page.locator(".page-head .badge")).to_have_text("繁體中文")
    expect(page.locator(".kbe-siblings li", has_text="简体中文")).to_contain_text("已发布")

    # A version restored: the published text comes back as a new version.
    page.click(".kbe-siblings a:has-text('简体中文')")
    page.fill("input[name=title]", "延保怎么买")
    page.click("button[name=then][value='']")
    page.wait_for_url("**/kb/*/edit/")
    page.locator(".kbe-versions a", has_text="v3").click()
    expect(page.locator(".kbe-diff .ins").first).to_have_text("延保怎么买")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("form[action$='/restore/'] button")
    page.wait_for_url("**/kb/*/edit/")
    expect(page.locator("input[name=title]")).to_have_value("延长保修服务怎么购买")
    assert page.locator(".kbe-versions li").count() == 5
    assert page.locator(".kbe-editable img").count() == 1
    assert errors == []
    context.close()


def test_agents_without_the_permission_read_only(kb_base, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    login(page, kb_base, "chen.wei", "pw-chen-wei-123")
    page.goto(kb_base + "/kb/")
    assert page.locator("a[href='/kb/new/']").count() == 0
    response = page.goto(kb_base + "/kb/new/")
    assert response is not None and response.status == 403
    context.close()
