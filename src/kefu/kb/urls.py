from django.urls import path

from kefu.kb import editor, editor_tools, helpcenter, views

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
    # The agents' knowledge base: reading for every agent, writing for the writers.
    path("kb/", editor.article_list, name="articles"),
    path("kb/new/", editor.article_new, name="article_new"),
    path("kb/import/", editor_tools.kb_import, name="import"),
    path("kb/export/", editor_tools.kb_export, name="export"),
    path("kb/<int:pk>/", editor.article_view, name="article"),
    path("kb/<int:pk>/edit/", editor.article_edit, name="article_edit"),
    path(
        "kb/<int:pk>/translate/<str:language>/",
        editor.article_translate,
        name="article_translate",
    ),
    path("kb/<int:pk>/delete/", editor.article_delete, name="article_delete"),
    path("kb/<int:pk>/versions/<int:number>/", editor_tools.article_version, name="version"),
    path(
        "kb/<int:pk>/versions/<int:number>/restore/",
        editor_tools.article_restore,
        name="restore",
    ),
    path("kb/<int:pk>/files/", editor_tools.article_attach, name="article_attach"),
    path("kb/<int:pk>/files/<int:attachment_id>/", editor_tools.article_file, name="article_file"),
    path(
        "kb/<int:pk>/files/<int:attachment_id>/delete/",
        editor_tools.attachment_delete,
        name="attachment_delete",
    ),
]
