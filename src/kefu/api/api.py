"""The REST API (django-ninja): ``/api/``, schema at ``/api/openapi.json``, docs at
``/api/docs``. Every endpoint takes ``Authorization: Bearer <token>`` of an agent."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.openapi.docs import Swagger

from kefu.api import conversations, customers
from kefu.api.auth import AgentToken
from kefu.core.errors import ActionError
from kefu.kb import api as kb_api


class LocalSwagger(Swagger):
    """Swagger UI from the static files django-ninja ships, never from a CDN (the CSP forbids
    it). The token is pasted into "Authorize"; no cookie is used, so no CSRF token either."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        config = {**self.settings, "url": self.get_openapi_url(api, kwargs)}
        # "</" cannot end the <script type="application/json"> block early once escaped.
        data = json.dumps(config).replace("</", "<\\/")
        return render(request, "api/swagger.html", {"api": api, "swagger_settings": data})


api = NinjaAPI(
    title="kefu API",
    version="1",
    description=(
        "Conversations and customers of kefu. Authenticate with `Authorization: Bearer <token>`;"
        " an agent makes a token with `kefu token create USERNAME`."
    ),
    urls_namespace="api",
    auth=AgentToken(),
    docs=LocalSwagger(),
)
api.add_router("/customers", customers.router)
api.add_router("/conversations", conversations.router)
api.add_router("/kb", kb_api.router)


@api.exception_handler(ActionError)
def action_error(request: HttpRequest, exc: ActionError) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=400)


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = api.create_response(
        request,
        {"detail": "a valid API token is required: Authorization: Bearer <token>"},
        status=401,
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "not found"}, status=404)


@api.exception_handler(RequestDataTooBig)
def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return api.create_response(request, {"detail": "the request body is too large"}, status=413)
