from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from kefu.staff.access import agent_profile


def agent_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Anonymous users go to the login page; signed-in users who are not agents get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if agent_profile(request.user) is None:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def customer_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """The customer portal: signed-in users linked to a customer record only."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if getattr(request.user, "customer", None) is None:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
