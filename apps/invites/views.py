"""Browser pages behind the waitlist mail: join, confirm (GET shows, only POST confirms), status."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from apps.core.clientip import client_ip
from apps.core.exceptions import DomainError, RateLimited
from apps.sharing.views import share_source

from . import services


class JoinForm(forms.Form):
    email = forms.EmailField(max_length=254)
    name = forms.CharField(max_length=200, required=False)
    referral_code = forms.CharField(max_length=32, required=False, widget=forms.HiddenInput)
    website = forms.CharField(max_length=500, required=False, label="Leave this empty")


def _source(request: HttpRequest) -> dict:
    """Where the join came from: the referring page and the share link followed (apps.sharing)."""
    source: dict = {}
    if request.headers.get("Referer"):
        source["referrer"] = request.headers["Referer"][:500]
    if share := share_source(request, request.network):
        source["share"] = share
    return source


@require_http_methods(["GET", "POST"])
def join_page(request: HttpRequest) -> HttpResponse:
    form = JoinForm(request.POST or None, initial={"referral_code": request.GET.get("ref", "")[:32]})
    joined = error = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.join_waitlist(
                network=request.network,
                email=data["email"],
                name=data["name"],
                referral_code=data["referral_code"] or None,
                ip=client_ip(request),
                source=_source(request),
                honeypot=data["website"],
            )
            joined = True
        except RateLimited as exc:
            error = exc.message
    return TemplateResponse(request, "invites/join.html", {"form": form, "joined": joined, "error": error})


@require_http_methods(["GET", "POST"])
def verify_page(request: HttpRequest, token: str) -> HttpResponse:
    """Mail scanners prefetch links: the GET only shows a button; the POST confirms."""
    standing = error = None
    if request.method == "POST":
        try:
            standing = services.verify_waitlist_email(network=request.network, token=token)
        except DomainError as exc:
            error = exc.message
    return TemplateResponse(request, "invites/verify.html", {"standing": standing, "error": error})


def status_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        entry = services.entry_for_status_token(network=request.network, token=token)
    except DomainError:
        return TemplateResponse(request, "invites/status.html", {"standing": None}, status=404)
    return TemplateResponse(request, "invites/status.html", {"standing": services.standing(entry=entry)})
