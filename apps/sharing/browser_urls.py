"""The public short links (mounted at the site root by config/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [path("s/<str:code>", views.share_redirect, name="share-redirect")]
