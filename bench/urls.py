"""The project's URLs plus floors to compare against: a bare Django view, a bare DRF view, DRF + one Redis GET."""

from django.http import JsonResponse
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


def bare(request):
    return JsonResponse({})


class BareDRF(APIView):
    """DRF with nothing of ours: no authentication, no permission, ``Response({})``."""

    authentication_classes = ()
    permission_classes = ()

    def get(self, request):
        return Response({})


class DRFRedis(BareDRF):
    """The least an API-key call can cost: DRF plus one Redis round trip (the key is judged and charged there)."""

    def get(self, request):
        from apps.core.redis import get_redis

        return Response({"cached": get_redis().get("bench:floor")})


urlpatterns = [
    path("bench/bare", bare),
    path("bench/drf", BareDRF.as_view()),
    path("bench/drf-redis", DRFRedis.as_view()),
    *project_urlpatterns,
]
