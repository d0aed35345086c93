"""The SLA countdown in a real browser: rendered by the server, ticked down and recoloured by
app.js (the page's clock is driven by Playwright, so nothing waits on real minutes)."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.conftest import KEFU, kefu_server
from tests.e2e.test_workspace import login

pytestmark = pytest.mark.e2e

# A round-the-clock policy: first response in 10 minutes, near breach at half of it.
SLA_SEED = """
from kefu.conversations import actions
from kefu.customers.models import Customer
from kefu.service.models import SlaPolicy
from kefu.staff.models import Team

SlaPolicy.objects.create(name="VIP", tiers="vip", first_response_minutes=10,
    resolution_minutes=600, warn_percent=50)
actions.open_conversation(customer=Customer.objects.get(name="张伟"), channel="web",
    team=Team.objects.get(slug="aftersales"), kind="complaint",
    subject="投诉：还是不充电", body_text="已经三天了。")
"""


@pytest.fixture(scope="module")
def sla_base(kefu_env):
    subprocess.run([*KEFU, "shell", "-v0", "-c", SLA_SEED], env=kefu_env, check=True)
    with kefu_server(kefu_env, name="sla") as base:
        yield base


def test_countdown_ticks_and_turns_near_then_breached(sla_base, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.clock.install()
    login(page, sla_base, "li.na", "pw-li-na-123")

    badge = page.locator(".conv-row", has_text="投诉：还是不充电").locator(".sla")
    assert badge.get_attribute("class") == "sla sla-ok"
    assert badge.locator(".sla-left").inner_text() in ("0:10", "0:09")
    # The other conversation has no SLA (opened before the policy existed).
    assert page.locator(".conv-row", has_text="扫地机器人不充电").locator(".sla").count() == 0

    page.clock.run_for("06:00")  # past 50 %: near, about four minutes left
    assert "sla-near" in badge.get_attribute("class")
    assert badge.locator(".sla-left").inner_text() in ("0:04", "0:03")

    page.clock.run_for("05:00")  # past the due time
    assert "sla-breached" in badge.get_attribute("class")
    assert badge.locator(".sla-left").inner_text().startswith("−0:0")

    page.locator(".conv-row", has_text="投诉：还是不充电").locator("a").click()
    page.wait_for_selector("#sla-prop")
    assert page.locator("#sla-prop .sla").count() == 1
    assert page.locator("#sla-prop").inner_text().count("VIP") == 1
    assert errors == []
    context.close()
