"""ASGI entry point: HTTP through Django, websockets through Channels (origin-checked)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")

from django.core.asgi import get_asgi_application

django_asgi = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from kefu.care.routing import websocket_urlpatterns as care_urlpatterns  # noqa: E402
from kefu.conversations.routing import websocket_urlpatterns  # noqa: E402
from kefu.core.webprocess import watching  # noqa: E402
from kefu.livechat.sockets import websocket_urlpatterns as visitor_urlpatterns  # noqa: E402

# Agents' sockets: same-site only, with the session. Visitors' sockets check the Origin
# against their widget's sites themselves and carry no cookies.
application = watching(
    ProtocolTypeRouter(
        {
            "http": django_asgi,
            "websocket": URLRouter(
                [
                    *visitor_urlpatterns,
                    *(
                        path(
                            str(p.pattern),
                            AllowedHostsOriginValidator(AuthMiddlewareStack(p.callback)),
                        )
                        for p in [*websocket_urlpatterns, *care_urlpatterns]
                    ),
                ]
            ),
        }
    )
)
