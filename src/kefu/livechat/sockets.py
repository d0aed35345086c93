"""The visitor websocket's route (the agents' socket lives in conversations/routing.py)."""

from django.urls import path

from kefu.livechat.consumers import VisitorConsumer

websocket_urlpatterns = [
    path("ws/chat/<str:key>/", VisitorConsumer.as_asgi()),
]
