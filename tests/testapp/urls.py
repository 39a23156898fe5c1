from django.urls import include, path
from rest_framework.routers import SimpleRouter

from config.urls import urlpatterns as project_urlpatterns

from .api import WidgetViewSet

router = SimpleRouter()
router.register("widgets", WidgetViewSet, basename="widget")

urlpatterns = [path("api/v1/", include(router.urls)), *project_urlpatterns]
