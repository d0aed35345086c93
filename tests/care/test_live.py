"""A campaign's progress reaches the agents watching it over a websocket; a preview shows the
message as a real customer would get it before anything is activated."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from django.test import Client

from kefu.asgi import application
from kefu.care import campaigns
from kefu.care.models import Campaign, Delivery
from kefu.customers.models import Preference
from tests.care.conftest import make_campaign, make_template
from tests.factories import CustomerFactory


def _communicator(path: str, cookie: str | None) -> ApplicationCommunicator:
    parsed = urlparse(path)
    headers = [(b"origin", b"http://localhost")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return ApplicationCommunicator(
        application,
        {
            "type": "websocket",
            "path": parsed.path,
            "query_string": b"",
            "headers": headers,
            "subprotocols": [],
        },
    )


async def _connect(comm: ApplicationCommunicator) -> dict[str, Any]:
    await comm.send_input({"type": "websocket.connect"})
    return await comm.receive_output(3)


async def _frames(comm: ApplicationCommunicator, quiet: float = 0.5) -> list[dict[str, Any]]:
    frames = []
    while not await comm.receive_nothing(timeout=quiet):
        out = await comm.receive_output(2)
        assert out["type"] == "websocket.send", out
        frames.append(json.loads(out["text"]))
    return frames


def _cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.mark.django_db(transaction=True)
def test_progress_is_pushed_live_while_sending_and_on_unsubscribe(agent_x):
    from django.core import mail

    customers = [CustomerFactory(consent_marketing=True) for _ in range(3)]
    campaign = make_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(status="running")
    cookie = _cookie(agent_x)

    async def scenario() -> tuple[list[dict[str, Any]], ...]:
        comm = _communicator(f"/ws/care/campaigns/{campaign.pk}/", cookie)
        assert (await _connect(comm))["type"] == "websocket.accept"
        first = await _frames(comm)
        await database_sync_to_async(campaigns.run)(campaign.pk)
        after_run = await _frames(comm)
        delivery = await database_sync_to_async(
            lambda: Delivery.objects.select_related("customer").get(customer=customers[0])
        )()
        from kefu.care.consent import unsubscribe

        await database_sync_to_async(unsubscribe)(delivery)
        after_unsubscribe = await _frames(comm)
        await comm.send_input({"type": "websocket.disconnect", "code": 1000})
        return first, after_run, after_unsubscribe

    first, after_run, after_unsubscribe = async_to_sync(scenario)()
    assert len(mail.outbox) == 3
    assert first and first[0]["op"] == "care-progress"
    assert 'id="care-sent">0<' in first[0]["html"]
    assert after_run and 'id="care-sent">3<' in after_run[-1]["html"]
    assert "care-status" in after_run[-1]["html"]
    assert after_unsubscribe and 'id="care-unsubscribed">1<' in after_unsubscribe[-1]["html"]


@pytest.mark.django_db(transaction=True)
def test_progress_socket_refuses_visitors_and_unknown_campaigns(agent_x):
    campaign = make_campaign()

    async def scenario(path: str, cookie: str | None) -> dict[str, Any]:
        return await _connect(_communicator(path, cookie))

    refused = async_to_sync(scenario)(f"/ws/care/campaigns/{campaign.pk}/", None)
    assert refused["type"] == "websocket.close" and refused["code"] == 4403
    unknown = async_to_sync(scenario)("/ws/care/campaigns/999999/", _cookie(agent_x))
    assert unknown["type"] == "websocket.close"


@pytest.mark.django_db
def test_preview_with_a_real_customer_before_activating(agent_x):
    from kefu.care.models import Occasion

    template = make_template(
        "birthday",
        en=("Happy birthday, {{ first_name }}!", "Enjoy a cup of {{ preference|default:'tea' }}."),
    )
    occasion = Occasion.objects.create(kind="birthday", template=template, active=False)
    customer = CustomerFactory(name="Lily Chen", language="en")
    Preference.objects.create(customer=customer, kind="personal", value="oolong")
    plain = CustomerFactory(name="Bob", language="en")
    client = Client()
    client.force_login(agent_x)
    page = client.get(f"/care/templates/{template.pk}/preview/?customer={customer.pk}")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Happy birthday, Lily!" in html and "oolong" in html
    other = client.get(f"/care/templates/{template.pk}/preview/?customer={plain.pk}").content
    assert b"Enjoy a cup of tea." in other  # a missing preference falls back
    occasion.refresh_from_db()
    assert not occasion.active and not Delivery.objects.exists()  # a preview sends nothing
    assert Client().get(f"/care/templates/{template.pk}/preview/").status_code in (302, 403)


@pytest.mark.django_db
def test_campaign_page_opens_the_progress_socket(agent_x):
    customer = CustomerFactory(name="Lily Chen", language="en", consent_marketing=True)
    campaign = make_campaign()
    client = Client()
    client.force_login(agent_x)
    page = client.get(f"/care/campaigns/{campaign.pk}/").content.decode()
    assert f'data-ws="/ws/care/campaigns/{campaign.pk}/"' in page
    assert "care/progress.js" in page and 'id="care-complaints"' in page
    assert "Hi Lily Chen" in page  # the preview, as a real member of the segment
    fragment = client.get(f"/care/campaigns/{campaign.pk}/progress/").content.decode()
    assert 'id="care-sent">0<' in fragment
    assert customer.pk


@pytest.mark.django_db
def test_admin_offers_preview_of_occasions_and_repeating_campaigns(admin_user):
    from kefu.care.models import Occasion

    template = make_template("greet")
    Occasion.objects.create(kind="birthday", template=template)
    client = Client()
    client.force_login(admin_user)
    listing = client.get("/admin/care/occasion/").content.decode()
    assert f"/care/templates/{template.pk}/preview/" in listing
    form = client.get("/admin/care/campaign/add/").content.decode()
    assert 'name="repeat_every_days"' in form
