from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_GET

from kefu.api.api import api


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("healthz", healthz, name="healthz"),
    path("", include("kefu.staff.urls")),
    path("", include("kefu.customers.urls")),
    path("", include("kefu.conversations.urls")),
    path("", include("kefu.mail.urls")),
    path("", include("kefu.livechat.urls")),
    path("", include("kefu.service.urls")),
    path("", include("kefu.kb.urls")),
    path("", include("kefu.analytics.urls")),
    path("", include("kefu.care.urls")),
]
