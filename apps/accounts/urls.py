from django.urls import path
from rest_framework.routers import SimpleRouter

from . import account_api, api

router = SimpleRouter(trailing_slash=True)
router.register("users", api.UserViewSet, basename="user")
router.register("account/sessions", account_api.UserSessionViewSet, basename="account-session")

urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
    path("account/2fa/", account_api.TwoFactorStatusView.as_view(), name="account-2fa"),
    path("account/2fa/totp/", account_api.TOTPView.as_view(), name="account-2fa-totp"),
    path(
        "account/2fa/totp/confirm/",
        account_api.TOTPConfirmView.as_view(),
        name="account-2fa-totp-confirm",
    ),
    path(
        "account/2fa/backup-codes/",
        account_api.BackupCodesView.as_view(),
        name="account-2fa-backup-codes",
    ),
    path("account/2fa/verify/", account_api.TwoFactorVerifyView.as_view(), name="account-2fa-verify"),
    *router.urls,
]
