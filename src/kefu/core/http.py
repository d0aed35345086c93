from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxRequest(HttpRequest):
    """The request as our views see it: django-htmx's middleware adds ``htmx``."""

    htmx: HtmxDetails
