"""A manager opens the dashboard on the demo data, changes a filter and drills down."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import KEFU, kefu_server

pytestmark = pytest.mark.e2e

SHOTS = Path(os.environ.get("KEFU_SCREENSHOTS", "test-results"))
CHARTS = Path(__file__).parents[2] / "src/kefu/analytics/static/analytics/vendor/echarts.min.js"


@pytest.fixture(scope="module")
def demo_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server over the demo help desk (SQLite; the dashboard reads rollups only)."""
    data = tmp_path_factory.mktemp("kefu-dashboard")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(KEFU_DEBUG="1", KEFU_DATA_DIR=str(data), KEFU_SECRET_KEY="e2e-" + uuid.uuid4().hex)
    env.pop("KEFU_REDIS_URL", None)
    env.pop("KEFU_DATABASE_URL", None)
    try:
        subprocess.run([*KEFU, "migrate", "-v0"], env=env, check=True)
        load = "from kefu.demo import load_demo; load_demo()"
        subprocess.run([*KEFU, "shell", "-v0", "-c", load], env=env, check=True)
        with kefu_server(env) as base:
            yield base
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_manager_dashboard_filter_and_drill_down(demo_base, browser):
    if not CHARTS.exists():
        pytest.skip("the chart library is fetched by `make charts` (npm)")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    errors: list[tuple[str, str]] = []  # (page, error): the analytics pages must have none
    page.on("pageerror", lambda exc: errors.append((page.url, str(exc))))
    page.on("console", lambda m: errors.append((page.url, m.text)) if m.type == "error" else None)
    page.goto(demo_base + "/login/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", "kefu-demo")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.click("nav.mainnav >> text=报表")
    page.wait_for_selector("[data-chart=volume] canvas")
    assert page.locator("body.has-charts").count() == 1
    # Response times, SLA, satisfaction, the Pareto of value, churn risk with reasons and
    # this week's rising terms are all on the page.
    text = page.inner_text("main")
    for words in ("首次响应", "SLA", "满意度", "帕累托", "流失风险", "本周上升"):
        assert words in text, words
    assert page.locator("#churn .badge.risk").count() > 0
    assert page.locator("#terms li a").count() > 0
    page.wait_for_selector("[data-chart=pareto] canvas")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)

    # A filter change reloads with the filter in the URL.
    page.select_option("select[name=channel]", "chat")
    page.wait_for_url("**channel=chat**")
    assert page.locator("select[name=channel]").input_value() == "chat"
    created_chat = int(page.inner_text(".kpi >> nth=0 >> .kpi-value"))

    # The first figure drills down to exactly its conversations, all chats.
    page.click(".kpi >> nth=0")
    page.wait_for_selector("#drill")
    assert "metric=created" in page.url and "channel=chat" in page.url
    rows = page.locator("#drill tbody tr")
    assert rows.count() == min(created_chat, 50)
    page.screenshot(path=str(SHOTS / "dashboard-drill.png"), full_page=True)
    first = rows.first.locator("a").first
    href = first.get_attribute("href")
    subject = rows.first.locator("td").nth(1).inner_text()
    first.click()
    page.wait_for_url("**" + href)
    # The conversation's own page (its title: the main area may still be loading panels).
    assert subject.rstrip("…") in page.title()

    # A rising term drills down to the conversations that mention it.
    page.goto(demo_base + "/analytics/")
    term = page.locator("#terms li a").first
    mentions = int(page.locator("#terms li .muted").first.inner_text().split()[0])
    term.click()
    page.wait_for_selector("#drill")
    # Every conversation counted for the term is listed (subject or the customer's words).
    assert page.locator("#drill tbody tr").count() >= mentions > 0
    ours = [e for e in errors if "/analytics/" in e[0]]
    assert not ours, ours
    context.close()
