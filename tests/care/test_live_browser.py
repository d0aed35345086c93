"""Live campaign progress in a real browser: an agent watches a campaign's page while a reader
unsubscribes through the link in their email; the agent's counter changes without a reload
(pushed over the page's websocket by the web process that handled the unsubscribe)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import KEFU, browser, kefu_environment, kefu_server  # noqa: F401
from tests.e2e.test_workspace import login
from tests.mail.smtp_server import SmtpSink

pytestmark = pytest.mark.e2e

CAMPAIGN = """
from kefu.care import campaigns
from kefu.care.models import Campaign, Segment, Template, TemplateVersion
from kefu.customers.actions import resolve_customer
for i in range(3):
    c = resolve_customer(email=f"watcher{i}@example.cn", name=f"读者{i}")
    c.consent_marketing = True
    c.save()
t = Template.objects.create(name="live")
TemplateVersion.objects.create(template=t, language="", subject="{{ name }}，新品",
    body_text="{{ name }}您好。", body_html="<p>{{ name }}您好。</p>")
s = Segment.objects.create(name="watchers", rules={})
c = Campaign.objects.create(name="live progress", template=t, segment=s)
campaigns.start(c)
campaigns.run(c.pk)
print(c.pk)
"""


@pytest.fixture(scope="module")
def care_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with kefu_environment(tmp_path_factory.mktemp("kefu-care-live")) as env:
        yield env


@pytest.fixture(scope="module")
def care_base(care_env: dict[str, str]) -> Iterator[str]:
    with kefu_server(care_env, name="care-live") as base:
        yield base


def test_unsubscribe_shows_live_on_the_campaign_page(care_env, care_base, browser):  # noqa: F811
    with SmtpSink() as sink:
        env = {
            **care_env,
            "KEFU_SMTP_URL": f"smtp://127.0.0.1:{sink.port}?security=none",
            "KEFU_BASE_URL": care_base,
        }
        out = subprocess.run(
            [*KEFU, "shell", "-v0", "-c", CAMPAIGN],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        campaign_id = int(out.strip().splitlines()[-1])
        received = {r.rcpt_tos[0]: r for r in sink.received}
    assert len(received) == 3
    link = received["watcher0@example.cn"].message()["List-Unsubscribe"].strip().strip("<>")

    agent = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    login(agent, care_base, "li.na", "pw-li-na-123")
    agent.goto(f"{care_base}/care/campaigns/{campaign_id}/")
    agent.wait_for_selector("body[data-care-live='1']")  # the progress socket is open
    assert agent.inner_text("#care-sent").strip() == "3"
    assert agent.inner_text("#care-unsubscribed").strip() == "0"

    reader = browser.new_context().new_page()
    reader.goto(link)
    reader.click("#unsubscribe")
    reader.wait_for_selector("#care-message")

    # No reload: the counter changes on the open page.
    agent.wait_for_function(
        "document.getElementById('care-unsubscribed').textContent.trim() === '1'"
    )
    assert agent.inner_text("#care-sent").strip() == "3"
