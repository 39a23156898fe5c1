"""Browser pages that allauth does not provide (the 2FA login stage and 2FA management, profile)."""

from django.urls import path

from . import views

urlpatterns = [
    path("profile/", views.profile, name="account_profile"),
    path("2fa/", views.two_factor_index, name="account_2fa"),
    path("2fa/authenticate/", views.two_factor_authenticate, name="account_2fa_authenticate"),
    path("2fa/verify/", views.two_factor_verify, name="account_2fa_verify"),
    path("2fa/totp/", views.two_factor_totp, name="account_2fa_totp"),
    path("2fa/backup-codes/", views.two_factor_backup_codes, name="account_2fa_backup_codes"),
    path("2fa/disable/", views.two_factor_disable, name="account_2fa_disable"),
]
