"""The project's ASGI app plus ``/bench/relay/``: a bare Channels consumer that only relays.

The chat benchmark's baseline: every text frame a relay socket sends goes to one
channel-layer group (the same Redis layer as chat) and is written to every
socket in it — the fan-out chat does, without auth, database or payloads.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from apps.realtime.auth import WebSocketAuthMiddleware  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402

GROUP = "bench.relay"


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        await self.channel_layer.group_send(GROUP, {"type": "relay.message", "text": text_data})

    async def relay_message(self, event: dict) -> None:
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # connect-time auth applies to both (the relay ignores it); frames are what is measured
        "websocket": WebSocketAuthMiddleware(
            URLRouter([path("bench/relay/", RelayConsumer.as_asgi()), *websocket_urlpatterns])
        ),
    }
)
