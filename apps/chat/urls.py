from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("conversations", api.ConversationViewSet, basename="conversation")
router.register("conversation-members", api.ConversationMemberViewSet, basename="conversation-member")
router.register("messages", api.MessageViewSet, basename="message")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
