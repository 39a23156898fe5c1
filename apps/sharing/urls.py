from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("shares", api.ShareViewSet, basename="share")

urlpatterns = [path("share-stats/", api.ShareStatsView.as_view(), name="share-stats"), *router.urls]
