from django.urls import path

from kefu.conversations import portal, views, workflow_views

urlpatterns = [
    path("", views.home, name="home"),
    path("inbox/", views.inbox, name="inbox"),
    path("c/<int:pk>/", views.conversation_detail, name="conversation"),
    path("c/<int:pk>/props/", views.props, name="conversation_props"),
    path("c/<int:pk>/reply/", views.reply, name="conversation_reply"),
    path("c/<int:pk>/note/", views.note, name="conversation_note"),
    path("c/<int:pk>/assign/", views.assign, name="conversation_assign"),
    path("c/<int:pk>/status/", views.change, {"field": "status"}, name="conversation_status"),
    path("c/<int:pk>/priority/", views.change, {"field": "priority"}, name="conversation_priority"),
    path("c/<int:pk>/kind/", views.change, {"field": "kind"}, name="conversation_kind"),
    path("c/<int:pk>/tags/", views.tags, name="conversation_tags"),
    path("c/<int:pk>/merge/", views.merge, name="conversation_merge"),
    path("c/<int:pk>/split/", workflow_views.split_view, name="conversation_split"),
    path("c/<int:pk>/links/", workflow_views.link, name="conversation_link"),
    path(
        "c/<int:pk>/links/<int:other>/delete/",
        workflow_views.unlink,
        name="conversation_unlink",
    ),
    path("c/<int:pk>/acknowledge/", workflow_views.acknowledge, name="complaint_acknowledge"),
    path("c/<int:pk>/resolve/", workflow_views.resolve, name="complaint_resolve"),
    path("inbox/bulk/", workflow_views.bulk_view, name="inbox_bulk"),
    path("complaints/", workflow_views.complaints_view, name="complaints"),
    path("c/<int:pk>/m/<int:message_id>/", views.message_fragment, name="message_fragment"),
    path("c/<int:pk>/attachments/<int:attachment_id>/", views.attachment, name="attachment"),
    path("portal/", portal.home, name="portal"),
    path("portal/c/<int:pk>/", portal.conversation, name="portal_conversation"),
    path("portal/c/<int:pk>/reply/", portal.reply, name="portal_reply"),
]
