"""Live campaign progress over a websocket: agents watching a campaign's page hear of each
batch sent, bounce, open, unsubscribe and complaint (see :func:`kefu.care.live.changed`)."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string
from django.utils import translation

from kefu.care.live import group
from kefu.care.models import Campaign
from kefu.staff.access import agent_profile


class CampaignProgressConsumer(AsyncWebsocketConsumer):
    campaign_id: int | None = None

    async def connect(self) -> None:
        self.campaign_id = None
        pk = int(self.scope["url_route"]["kwargs"]["pk"])
        language = await self._allowed(self.scope.get("user"), pk)
        if language is None:
            await self.close(code=4403)
            return
        self.campaign_id, self.language = pk, language
        await self.channel_layer.group_add(group(pk), self.channel_name)
        await self.accept()
        await self._send_progress()  # what it is now; then each change

    @database_sync_to_async
    def _allowed(self, user: Any, pk: int) -> str | None:
        profile = agent_profile(user)
        if profile is None or not Campaign.objects.filter(pk=pk).exists():
            return None
        return profile.language or ""

    async def disconnect(self, code: int) -> None:
        if self.campaign_id is not None:
            await self.channel_layer.group_discard(group(self.campaign_id), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "ping":
            await self.send(text_data=json.dumps({"op": "pong"}))

    async def care_progress(self, event: dict[str, Any]) -> None:
        await self._send_progress()

    async def _send_progress(self) -> None:
        html = await self._render()
        if html is not None:
            await self.send(text_data=json.dumps({"op": "care-progress", "html": html}))

    @database_sync_to_async
    def _render(self) -> str | None:
        from kefu.care.campaigns import progress

        campaign = (
            Campaign.objects.filter(pk=self.campaign_id).first() if self.campaign_id else None
        )
        if campaign is None:
            return None
        with translation.override(self.language or None):
            return render_to_string(
                "care/_progress.html",
                {"campaign": campaign, "progress": progress(campaign), "live": True},
            )
