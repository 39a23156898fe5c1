"""The project's URLs plus floors to compare against: a bare Django view and a bare DRF view."""

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


urlpatterns = [path("bench/bare", bare), path("bench/drf", BareDRF.as_view()), *project_urlpatterns]
