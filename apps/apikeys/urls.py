from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("api-keys", api.ApiKeyViewSet, basename="apikey")

urlpatterns = [*router.urls]
