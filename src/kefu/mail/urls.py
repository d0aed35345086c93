from django.urls import path

from kefu.mail import views

urlpatterns = [
    path("mail/raw/<int:pk>/", views.raw, name="mail_raw"),
]
