from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import views as api

router = SimpleRouter(trailing_slash=True)
router.register("account/login-history", api.LoginHistoryViewSet, basename="account-login-history")
router.register("account/exports", api.DataExportViewSet, basename="account-export")

urlpatterns = [
    path("account/settings/", api.SettingsView.as_view(), name="account-settings"),
    path("account/preferences/", api.PreferencesView.as_view(), name="account-preferences"),
    path("account/email-change/", api.EmailChangeView.as_view(), name="account-email-change"),
    path(
        "account/email-change/confirm/",
        api.EmailChangeConfirmView.as_view(),
        name="account-email-change-confirm",
    ),
    path("account/deletion-request/", api.DeletionRequestView.as_view(), name="account-deletion-request"),
    *router.urls,
]
