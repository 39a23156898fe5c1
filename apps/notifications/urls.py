from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("notifications", api.NotificationViewSet, basename="notification")
router.register("push-tokens", api.PushTokenViewSet, basename="push-token")

urlpatterns = [*router.urls]
