from django.urls import path

from kefu.analytics import views

app_name = "analytics"

urlpatterns = [
    path("analytics/", views.dashboard, name="dashboard"),
    path("analytics/conversations/", views.conversations, name="conversations"),
    path("analytics/export", views.export, name="export"),
    path("analytics/tiles", views.live_tiles, name="tiles"),
]
