"""Browser pages (mounted under /organizations/ by config/urls.py)."""

from django.urls import path

from . import views as pages

urlpatterns = [
    # the page behind the mailed invitation link (sign-in required; joins only on POST)
    path("invitations/<str:token>/", pages.invitation_page, name="organization-invitation-page"),
]
