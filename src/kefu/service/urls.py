from django.urls import path

from kefu.service import views

urlpatterns = [
    path("canned/", views.canned, name="canned_replies"),
]
