from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import views

router = SimpleRouter(trailing_slash=True)
router.register("invite-codes", views.InviteCodeViewSet, basename="invite-code")
router.register("invite-waves", views.InviteWaveViewSet, basename="invite-wave")
router.register("waitlist-entries", views.WaitlistEntryViewSet, basename="waitlist-entry")

urlpatterns = [
    path("waitlist/", views.WaitlistJoinView.as_view(), name="waitlist-join"),
    path("waitlist/verify/", views.WaitlistVerifyView.as_view(), name="waitlist-verify"),
    path("waitlist/me/", views.WaitlistMeView.as_view(), name="waitlist-me"),
    path("invite-codes/check/", views.InviteCodeCheckView.as_view(), name="invite-code-check"),
    *router.urls,
]
