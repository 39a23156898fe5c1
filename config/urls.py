from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from apps.accounts.headless_guard import guarded_allauth_urls
from apps.chat import views as chat_views
from apps.core import docs
from apps.core import views as core_views
from apps.core.urlindex import indexed_path

admin.site.site_header = "Colony back office"
admin.site.site_title = "Colony back office"
admin.site.index_title = "Back office"

api_v1 = [
    path("", include("apps.core.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.networks.urls")),
    path("", include("apps.preferences.urls")),
    path("", include("apps.organizations.urls")),
    path("", include("apps.projects.urls")),
    path("", include("apps.brain.urls")),
    path("", include("apps.apikeys.urls")),
    path("", include("apps.realtime.urls")),
    path("", include("apps.inbox.urls")),
    path("", include("apps.notifications.urls")),
    path("", include("apps.social.urls")),
    path("", include("apps.sharing.urls")),
    path("", include("apps.chat.urls")),
    path("", include("apps.billing.urls")),
    path("", include("apps.agents.urls")),
    path("", include("apps.integrations.urls")),
    path("", include("apps.dispatcher.urls")),
    path("", include("apps.bounties.urls")),
    path("", include("apps.invites.urls")),
    path("", include("apps.mailing.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", docs.SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", docs.RedocView.as_view(url_name="api-schema"), name="api-redoc"),
]

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    # the API first: no pattern before it can match ``api/v1/…``, so an API request tries no other
    indexed_path("api/v1/", api_v1),  # resolved by first segment: only the routes that can match
    path("admin/", admin.site.urls),
    path("accounts/", include("apps.accounts.browser_urls")),
    path("accounts/", include("apps.preferences.browser_urls")),
    path("organizations/", include("apps.organizations.browser_urls")),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("apps.accounts.headless_urls")),
    path("_allauth/", include(guarded_allauth_urls())),  # safe JSON, no half-authenticated session
    path("chat/", chat_views.chat_page, name="chat"),
    path("", include("apps.invites.browser_urls")),
    path("", include("apps.mailing.browser_urls")),
    path("", include("apps.sharing.browser_urls")),
    path("", core_views.home, name="home"),
]
