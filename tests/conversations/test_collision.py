"""Collision detection: an agent typing a reply is shown live to the other agents who have the
same conversation open (never to themselves)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from tests.conversations.test_consumers import (  # noqa: F401  (fixtures)
    _fresh_channel_layer,
    communicator,
    cx,
    drain,
    session_cookie,
)
from tests.factories import make_agent

pytestmark = pytest.mark.django_db(transaction=True)


def test_other_agents_see_who_is_replying(agent_x, team_x, cx):  # noqa: F811
    colleague = make_agent("colleague", team_x)
    colleague.agent_profile.display_name = "王同事"
    colleague.agent_profile.save()
    cookie_x, cookie_c = session_cookie(agent_x), session_cookie(colleague)

    async def run():
        first = communicator(f"/ws/workspace/?conversation={cx.pk}", cookie_x)
        second = communicator(f"/ws/workspace/?conversation={cx.pk}", cookie_c)
        assert (await first.connect(timeout=3))[0]
        assert (await second.connect(timeout=3))[0]
        await drain(first)
        await drain(second)
        await second.send_to(text_data='{"op":"typing"}')
        seen_by_first = await drain(first)
        seen_by_second = await drain(second)
        await first.disconnect()
        await second.disconnect()
        return seen_by_first, seen_by_second

    seen_by_first, seen_by_second = async_to_sync(run)()
    assert {"op": "replying", "who": "王同事"} in seen_by_first
    assert not [f for f in seen_by_second if f.get("op") == "replying"]


def test_typing_elsewhere_is_not_shown(agent_x, team_x, cx, customer):  # noqa: F811
    from tests.factories import make_conversation

    other = make_conversation(customer, team=team_x)
    colleague = make_agent("colleague", team_x)
    cookie_x, cookie_c = session_cookie(agent_x), session_cookie(colleague)

    async def run():
        first = communicator(f"/ws/workspace/?conversation={cx.pk}", cookie_x)
        second = communicator(f"/ws/workspace/?conversation={other.pk}", cookie_c)
        assert (await first.connect(timeout=3))[0]
        assert (await second.connect(timeout=3))[0]
        await drain(first)
        await second.send_to(text_data='{"op":"typing"}')
        seen = await drain(first)
        await first.disconnect()
        await second.disconnect()
        return seen

    assert not [f for f in async_to_sync(run)() if f.get("op") == "replying"]
