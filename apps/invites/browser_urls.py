"""Browser pages of the invites app (mounted at the site root by config/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("waitlist/", views.join_page, name="waitlist-page"),
    path("waitlist/confirm/<str:token>/", views.verify_page, name="waitlist-verify-page"),
    path("waitlist/status/<str:token>/", views.status_page, name="waitlist-status-page"),
]
