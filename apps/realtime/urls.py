from django.urls import path

from . import api

urlpatterns = [
    path("realtime/tickets/", api.TicketView.as_view(), name="realtime-tickets"),
]
