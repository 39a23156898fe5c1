from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns


def bare(request):
    return JsonResponse({})


urlpatterns = [path("bench/bare", bare), *project_urlpatterns]
