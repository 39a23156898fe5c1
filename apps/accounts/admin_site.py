"""The back office's site: staff sign in through allauth, like everyone else.

``INSTALLED_APPS`` lists ``apps.accounts.admin_apps.ColonyAdminConfig``
instead of ``django.contrib.admin``, so ``admin.site`` is a ``ColonyAdminSite``:

* ``/admin/login/`` is not a second password form: it sends the visitor to
  allauth's login page (``?next=`` kept), so the admin gets the same login
  stages (2FA), refusals (suspended, unverified), rate limits
  (``ACCOUNT_RATE_LIMITS["login_failed"]``) and login history;
* ``has_permission`` is the staff check plus the rules every surface shares:
  an account in good standing and a session that passed its second factor
  (``permissions.account_refusal`` / ``session_refusal``). A half-authenticated staff session is
  sent to the 2FA verification page, an authenticated non-staff (or
  suspended) one gets a 403 instead of a login loop.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from .permissions import account_refusal, session_refusal


class ColonyAdminSite(admin.AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff) or account_refusal(user):
            return False
        return session_refusal(user, getattr(request, "session", None)) is None

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        target = request.GET.get("next") or reverse("admin:index")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:index")
        user = request.user
        if user.is_authenticated:
            session = getattr(request, "session", None)
            if user.is_staff and not account_refusal(user) and session_refusal(user, session):
                return HttpResponseRedirect(f"{reverse('account_2fa_verify')}?{urlencode({'next': target})}")
            if self.has_permission(request):
                return HttpResponseRedirect(target)
            raise PermissionDenied("This account may not use the back office.")
        return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({'next': target})}")
