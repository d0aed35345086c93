from django.urls import path

from kefu.kb import helpcenter, views

app_name = "kb"

urlpatterns = [
    path("help/", helpcenter.home, name="help"),
    path("help/search", helpcenter.search, name="help_search"),
    path("help/suggest", helpcenter.suggest, name="help_suggest"),
    path("help/contact/", helpcenter.contact, name="help_contact"),
    path("help/c/<str:slug>/", helpcenter.category, name="help_category"),
    path("help/a/<int:pk>/<str:slug>/", helpcenter.article, name="help_article"),
    path(
        "help/files/<int:pk>/<int:attachment_id>/",
        helpcenter.attachment,
        name="help_attachment",
    ),
    path("help/feedback/<int:pk>/", helpcenter.feedback, name="help_feedback"),
    path(
        "help/feedback/comment/<str:token>/",
        helpcenter.feedback_comment,
        name="help_feedback_comment",
    ),
    path("sitemap.xml", helpcenter.sitemap, name="sitemap"),
    path("robots.txt", helpcenter.robots, name="robots"),
    path("c/<int:pk>/kb/", views.conversation_panel, name="conversation_panel"),
    path("kb/gaps/", views.gaps, name="gaps"),
]
