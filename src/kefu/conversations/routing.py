from django.urls import path

from kefu.conversations.consumers import WorkspaceConsumer

websocket_urlpatterns = [
    path("ws/workspace/", WorkspaceConsumer.as_asgi()),
]
