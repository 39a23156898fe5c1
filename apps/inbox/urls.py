from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("inbox-items", api.InboxItemViewSet, basename="inbox-item")

urlpatterns = [*router.urls]
