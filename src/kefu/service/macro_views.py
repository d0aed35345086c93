"""Macros in the workspace: the composer's ``/shortcut`` picker and using a macro, and the
pages where agents manage their own macros (supervisors and admins also the shared ones)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kefu.conversations.access import access_conversation
from kefu.core.errors import ActionError
from kefu.core.http import HtmxRequest
from kefu.service import macros
from kefu.service.models import CannedReply
from kefu.staff.access import agent_profile
from kefu.staff.decorators import agent_required
from kefu.staff.models import Team


def _macro_for_use(request: HtmxRequest, pk: int) -> CannedReply:
    macro = macros.usable_macros(request.user).filter(pk=pk).first()
    if macro is None:
        raise Http404
    return macro


@require_POST
@agent_required
def canned_use(request: HtmxRequest, pk: int) -> JsonResponse:
    """Use a macro in a reply box: its text filled in for the conversation (``conversation``
    in the form) and its actions applied to it."""
    macro = _macro_for_use(request, pk)
    raw = request.POST.get("conversation", "")
    conversation = None
    if raw:
        if not raw.isdigit() or len(raw) > 18:
            return JsonResponse({"error": "not a conversation number"}, status=400)
        conversation = access_conversation(request.user, int(raw))
    try:
        used = macros.use_macro(macro, conversation=conversation, actor=request.user)
    except ActionError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {
            "body": used.body,
            "applied": used.applied,
            "failed": [{"what": what, "error": why} for what, why in used.failed],
        }
    )


class MacroForm(forms.ModelForm):
    shared = forms.BooleanField(
        label=_("Shared with other agents"),
        required=False,
        help_text=_("Supervisors and admins only."),
    )

    class Meta:
        model = CannedReply
        fields = [
            "shortcut",
            "title",
            "body",
            "set_status",
            "set_priority",
            "add_tags",
            "team",
            "active",
        ]
        widgets = {"body": forms.Textarea(attrs={"rows": 6})}

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        profile = agent_profile(user)
        self.supervises = profile is not None and profile.sees_all_teams
        if not self.supervises:
            del self.fields["shared"]
            del self.fields["team"]
        else:
            team_field = self.fields["team"]
            assert isinstance(team_field, forms.ModelChoiceField)
            team_field.queryset = Team.objects.all()
            self.fields["shared"].initial = self.instance.pk is not None and (
                self.instance.owner_id is None
            )

    def _post_clean(self) -> None:  # the owner is set before the model is validated
        shared = self.supervises and self.cleaned_data.get("shared")
        self.instance.owner = None if shared else self.user
        if not shared:
            self.instance.team = None
        super()._post_clean()  # type: ignore[misc]


@require_GET
@agent_required
def macro_list(request: HtmxRequest) -> HttpResponse:
    profile = agent_profile(request.user)
    mine = CannedReply.objects.filter(owner_id=request.user.pk).select_related("team")
    shared = macros.usable_macros(request.user).filter(owner__isnull=True).select_related("team")
    if profile is not None and profile.sees_all_teams:
        shared = CannedReply.objects.filter(owner__isnull=True).select_related("team")
    return render(
        request,
        "service/macros.html",
        {
            "mine": mine,
            "shared": shared,
            "supervises": profile is not None and profile.sees_all_teams,
            "placeholders": sorted(macros.PLACEHOLDERS),
        },
    )


@require_http_methods(["GET", "POST"])
@agent_required
def macro_edit(request: HtmxRequest, pk: int | None = None) -> HttpResponse:
    instance = CannedReply(owner_id=request.user.pk)
    if pk is not None:
        found = macros.manageable_macros(request.user).filter(pk=pk).first()
        if found is None:
            raise Http404
        instance = found
    form = MacroForm(request.POST or None, instance=instance, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            macros.save_macro(form.instance, actor=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("macros")
    return render(
        request,
        "service/macro_form.html",
        {"form": form, "macro": instance, "placeholders": sorted(macros.PLACEHOLDERS)},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@agent_required
def macro_delete(request: HtmxRequest, pk: int) -> HttpResponse:
    macro = macros.manageable_macros(request.user).filter(pk=pk).first()
    if macro is None:
        raise Http404
    macros.delete_macro(macro, actor=request.user)
    return redirect("macros")
