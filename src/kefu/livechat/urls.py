from django.urls import path

from kefu.livechat import views

app_name = "livechat"

urlpatterns = [
    path("chat/embed.js", views.embed_js, name="embed"),
    path("chat/w/<str:key>/", views.frame, name="frame"),
    path("chat/w/<str:key>/sample/", views.sample_host, name="sample"),
    path("chat/w/<str:key>/session", views.session, name="session"),
    path("chat/w/<str:key>/start", views.start, name="start"),
    path("chat/w/<str:key>/upload", views.upload, name="upload"),
    path("chat/w/<str:key>/offline", views.offline, name="offline"),
    path("chat/w/<str:key>/transcript", views.transcript, name="transcript"),
    path("chat/w/<str:key>/files/<str:signed>", views.visitor_file, name="file"),
    path("chat/w/<str:key>/suggest", views.suggestions, name="suggest"),
    path("chats/", views.chats, name="chats"),
    path("c/<int:pk>/chat/", views.panel, name="panel"),
    path("c/<int:pk>/chat/transfer/", views.transfer, name="transfer"),
    path("c/<int:pk>/chat/invite/", views.invite, name="invite"),
    path("c/<int:pk>/chat/end/", views.end, name="end"),
    path("c/<int:pk>/chat/read/", views.read, name="read"),
]
