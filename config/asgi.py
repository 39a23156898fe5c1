"""ASGI entry point: HTTP through Django (one thread hop per request), ``/ws/`` through Channels.

After start-up (settings, apps, URLconf and views imported) the heap is
frozen (``gc.freeze()``): the long-lived objects leave the collector's
generations, so collections only walk what requests allocate.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django.setup(set_prefix=False)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.core.handlers import SingleHopASGIHandler, lifespan, warm_up_and_freeze  # noqa: E402
from apps.realtime.auth import WebSocketAuthMiddleware  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402

django_asgi_app = SingleHopASGIHandler()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns))),
        "lifespan": lifespan,
    }
)

warm_up_and_freeze()
