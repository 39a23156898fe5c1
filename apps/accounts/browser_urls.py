"""Browser pages that allauth does not provide (the 2FA login stage, profile)."""

from django.urls import path

from . import views

urlpatterns = [
    path("profile/", views.profile, name="account_profile"),
    path("2fa/authenticate/", views.two_factor_authenticate, name="account_2fa_authenticate"),
]
