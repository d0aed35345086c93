from django.urls import path

from kefu.care import views

app_name = "care"

urlpatterns = [
    # Public, token-authorized: no login.
    path("care/u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("care/s/<str:token>/", views.survey, name="survey"),
    path("care/o/<str:token>.gif", views.opened, name="opened"),
    # Agents.
    path("care/campaigns/", views.campaigns, name="campaigns"),
    path("care/campaigns/<int:pk>/", views.campaign, name="campaign"),
    path("care/campaigns/<int:pk>/progress/", views.campaign_progress, name="campaign_progress"),
    path("care/campaigns/<int:pk>/start/", views.campaign_start, name="campaign_start"),
    path("care/campaigns/<int:pk>/pause/", views.campaign_pause, name="campaign_pause"),
    path("care/campaigns/<int:pk>/test/", views.campaign_test, name="campaign_test"),
    path("care/templates/<int:pk>/preview/", views.template_preview, name="template_preview"),
]
