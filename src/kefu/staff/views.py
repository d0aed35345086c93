"""Sign-in (rate-limited) and the agent's own profile: language, time zone, presence."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from kefu.core import ratelimit
from kefu.core.http import HtmxRequest
from kefu.staff import actions
from kefu.staff.access import agent_profile
from kefu.staff.decorators import agent_required
from kefu.staff.models import AgentProfile


class LoginView(auth_views.LoginView):
    """Django's login with throttling per client address and per (address, username).

    The answer for a wrong password and for an unknown user is the same page and message.
    """

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limit, window = settings.KEFU_LOGIN_RATE
        address = ratelimit.client_address(request.META)
        username = request.POST.get("username", "")[:150].lower()
        allowed = ratelimit.hit("login", f"{address}|{username}", limit, window)
        allowed = ratelimit.hit("login-ip", address, limit * 5, window) and allowed
        if not allowed:
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, _("Too many sign-in attempts. Wait a few minutes and try again."))
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)


class ProfileForm(forms.Form):
    display_name = forms.CharField(
        label=gettext_lazy("Display name"), max_length=100, required=False
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        required=False,
        choices=[("", gettext_lazy("Browser's language")), *settings.LANGUAGES],
    )
    timezone = forms.ChoiceField(
        label=gettext_lazy("Time zone"),
        required=False,
        choices=[
            ("", gettext_lazy("Server default")),
            *[(z, z) for z in sorted(zoneinfo.available_timezones())],
        ],
    )
    signature = forms.CharField(
        label=gettext_lazy("Signature"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    presence = forms.ChoiceField(
        label=gettext_lazy("Presence"), choices=AgentProfile.Presence.choices
    )
    capacity = forms.IntegerField(
        label=gettext_lazy("Concurrent chats"),
        min_value=0,
        max_value=actions.MAX_CAPACITY,
        required=False,
        help_text=gettext_lazy("How many live chats you take at once (0: none)."),
    )


@require_http_methods(["GET", "POST"])
@agent_required
def profile(request: HtmxRequest) -> HttpResponse:
    me = agent_profile(request.user)
    assert me is not None
    form = ProfileForm(
        request.POST or None,
        initial={
            "display_name": me.display_name,
            "language": me.language,
            "timezone": me.timezone,
            "signature": me.signature,
            "presence": me.presence,
            "capacity": me.capacity,
        },
    )
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.cleaned_data.items() if v is not None}
        actions.update_profile(me, **changes)
        messages.success(request, _("Your profile was saved."))
        return redirect("profile")
    return render(request, "staff/profile.html", {"form": form, "profile": me})


@require_http_methods(["POST"])
@agent_required
def set_language(request: HtmxRequest) -> HttpResponse:
    me = agent_profile(request.user)
    assert me is not None
    language = request.POST.get("language", "")
    if language in dict(settings.LANGUAGES):
        actions.update_profile(me, language=language)
    next_url = request.POST.get("next", "/")
    if not next_url.startswith("/") or next_url.startswith("//"):
        next_url = "/"
    return redirect(next_url)


@require_http_methods(["POST"])
@agent_required
def set_presence(request: HtmxRequest) -> HttpResponse:
    me = agent_profile(request.user)
    assert me is not None
    actions.update_profile(me, presence=request.POST.get("presence", ""))
    if request.htmx:
        return render(request, "staff/_presence.html", {"profile": me})
    return redirect("home")
