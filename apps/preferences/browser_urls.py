"""Browser pages (mounted under /accounts/ by config/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    # the page the emailed link opens (GET shows a button, POST confirms): browser session
    path(
        "email-change/confirm/<str:token>/",
        views.email_change_confirm_page,
        name="email-change-confirm-page",
    ),
]
