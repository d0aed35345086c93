"""One-click unsubscribe for real: a campaign goes out through real SMTP from a kefu process;
the link in the email works in chromium with no login (one button, immediate), and a mail
client's RFC 8058 POST to the List-Unsubscribe address works with no cookie or CSRF token."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest

from tests.e2e.conftest import KEFU
from tests.mail.smtp_server import SmtpSink

pytestmark = pytest.mark.e2e

CAMPAIGN = """
from kefu.care import campaigns
from kefu.care.models import Campaign, Segment, Template, TemplateVersion
from kefu.customers.actions import resolve_customer
for i, name in enumerate(["王芳", "Tom Lee"]):
    c = resolve_customer(email=f"reader{i}@example.cn", name=name)
    c.consent_marketing = True
    c.language = "zh-hans" if i == 0 else "en"
    c.save()
t = Template.objects.create(name="news")
TemplateVersion.objects.create(template=t, language="zh-hans", subject="{{ name }}，新品上市",
    body_text="{{ name }}您好，新品上市。", body_html="<p>{{ name }}您好，新品上市。</p>")
TemplateVersion.objects.create(template=t, language="en", subject="{{ name }}, new arrivals",
    body_text="Dear {{ name }}, new arrivals.", body_html="<p>Dear {{ name }}</p>")
s = Segment.objects.create(name="readers", rules={})
c = Campaign.objects.create(name="news", template=t, segment=s)
campaigns.start(c)
print(campaigns.run(c.pk))
"""

CHECK = """
from kefu.customers.models import Customer
for c in Customer.objects.filter(primary_contact__startswith="reader").order_by("primary_contact"):
    print(c.primary_contact, c.consent_marketing, c.consent_changes.count())
"""


def unsubscribe_url(received) -> str:
    return received.message()["List-Unsubscribe"].strip().strip("<>")


def test_unsubscribe_in_a_browser_and_by_one_click_post(kefu_env, kefu_base, browser):
    with SmtpSink() as sink:
        env = {
            **kefu_env,
            "KEFU_SMTP_URL": f"smtp://127.0.0.1:{sink.port}?security=none",
            "KEFU_BASE_URL": kefu_base,
        }
        subprocess.run([*KEFU, "shell", "-v0", "-c", CAMPAIGN], env=env, check=True)
        by_address = {r.rcpt_tos[0]: r for r in sink.received}
    assert sorted(by_address) == ["reader0@example.cn", "reader1@example.cn"]
    first = by_address["reader0@example.cn"]
    assert first.message()["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = unsubscribe_url(first)
    assert link.startswith(kefu_base)
    assert link in first.message().get_body(("plain",)).get_content()  # the visible link

    # The reader clicks the link in their mail: no login, one button.
    page = browser.new_context().new_page()
    page.goto(link)
    assert "/login" not in page.url
    page.click("#unsubscribe")
    page.wait_for_selector("#care-message")
    assert "reader0@example.cn" in page.inner_text("#care-message")

    # A mail client's one-click POST (RFC 8058): no cookie, no CSRF token.
    request = urllib.request.Request(
        unsubscribe_url(by_address["reader1@example.cn"]),
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    state = subprocess.run(
        [*KEFU, "shell", "-v0", "-c", CHECK],
        env=kefu_env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    assert state[0].split() == ["reader0@example.cn", "False", "1"]
    assert state[1].split() == ["reader1@example.cn", "False", "1"]
