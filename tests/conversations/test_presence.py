"""Who else is viewing a conversation; sockets closing when the agent signs out or leaves."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.test import Client

from kefu.staff.offboarding import deactivate_agent
from tests.conversations.test_consumers import (  # noqa: F401  (fixtures)
    _fresh_channel_layer,
    communicator,
    cx,
    drain,
    session_cookie,
)
from tests.factories import make_agent

pytestmark = pytest.mark.django_db(transaction=True)


def test_agents_see_each_other_viewing_the_same_conversation(agent_x, team_x, cx):  # noqa: F811
    colleague = make_agent("colleague", team_x)
    colleague.agent_profile.display_name = "王同事"
    colleague.agent_profile.save()
    cookie_x, cookie_c = session_cookie(agent_x), session_cookie(colleague)

    async def run():
        first = communicator(f"/ws/workspace/?conversation={cx.pk}", cookie_x)
        assert (await first.connect(timeout=3))[0]
        assert await drain(first) == []  # alone: nothing to say
        second = communicator(f"/ws/workspace/?conversation={cx.pk}", cookie_c)
        assert (await second.connect(timeout=3))[0]
        seen_by_first = await drain(first)
        seen_by_second = await drain(second)
        await second.disconnect()
        after_leaving = await drain(first)
        await first.disconnect()
        return seen_by_first, seen_by_second, after_leaving

    seen_by_first, seen_by_second, after_leaving = async_to_sync(run)()
    assert {"op": "viewers", "names": ["王同事"]} in seen_by_first
    assert {"op": "viewers", "names": [agent_x.agent_profile.name]} in seen_by_second
    assert {"op": "viewers", "names": []} in after_leaving


def test_signing_out_closes_the_agents_sockets(agent_x, cx):  # noqa: F811
    client = Client()
    client.force_login(agent_x)
    cookie = client.cookies["sessionid"].value

    async def run():
        comm = communicator("/ws/workspace/", cookie)
        assert (await comm.connect(timeout=3))[0]
        await database_sync_to_async(client.post)("/logout/")
        closed = await comm.receive_output(timeout=3)
        return closed

    closed = async_to_sync(run)()
    assert closed == {"type": "websocket.close", "code": 4401}


def test_deactivating_an_agent_closes_their_sockets(agent_x, admin_user, cx):  # noqa: F811
    cookie = session_cookie(agent_x)

    async def run():
        comm = communicator("/ws/workspace/", cookie)
        assert (await comm.connect(timeout=3))[0]
        await database_sync_to_async(deactivate_agent)(agent_x, actor=admin_user)
        return await comm.receive_output(timeout=3)

    assert async_to_sync(run)() == {"type": "websocket.close", "code": 4401}
