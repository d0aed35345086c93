from django.urls import path

from kefu.care.consumers import CampaignProgressConsumer

websocket_urlpatterns = [
    path("ws/care/campaigns/<int:pk>/", CampaignProgressConsumer.as_asgi()),
]
