"""Browser pages of the mailing app (mounted at the site root by config/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("unsubscribe/<str:token>/", views.unsubscribe_page, name="unsubscribe-page"),
]
