from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import views

router = SimpleRouter(trailing_slash=True)
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register("organization-members", views.OrganizationMemberViewSet, basename="organization-member")

_org = "organizations/<uuid:organization_pk>"

urlpatterns = [
    path(
        "organization-invitations/accept/",
        views.AcceptInvitationView.as_view(),
        name="organization-invitation-accept",
    ),
    path(
        f"{_org}/members/",
        views.OrganizationMemberListViewSet.as_view({"get": "list", "post": "create"}),
        name="organization-members",
    ),
    path(
        f"{_org}/settings/",
        views.OrganizationSettingsViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="organization-settings",
    ),
    path(
        f"{_org}/security-policy/",
        views.OrganizationSecurityPolicyViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="organization-security-policy",
    ),
    path(
        f"{_org}/audit-events/",
        views.OrganizationAuditEventViewSet.as_view({"get": "list"}),
        name="organization-audit-events",
    ),
    *router.urls,
]
