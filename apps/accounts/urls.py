from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("users", api.UserViewSet, basename="user")

urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
    *router.urls,
]
