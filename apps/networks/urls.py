from django.urls import path

from . import api

urlpatterns = [path("networks/current/", api.CurrentNetworkView.as_view(), name="network-current")]
