"""Back office for organizations: every change goes through the services (audited, invariants kept).

Staff act ``as_staff``: they need no membership, but the org's invariants
(≥ 1 owner, agents only member/viewer, allowed email domains) still hold.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from apps.core.exceptions import DomainError

from . import services
from .models import Organization, OrganizationMember, OrganizationSecurityPolicy, OrganizationSettings


class ArchivedFilter(admin.SimpleListFilter):
    title = "archived"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return (("no", "Live"), ("yes", "Archived"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(archived_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(archived_at__isnull=True)
        return queryset


class _ServiceFormSet(forms.BaseInlineFormSet):
    """Inline changes are applied by services in ``save`` (each in a savepoint).

    A refused change (last owner, agent role, …) is rolled back and reported
    as an admin message; the rest of the page still saves.
    """

    request: HttpRequest

    def save(self, commit: bool = True) -> list:
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        self.refusals: list[str] = []
        for form in self.forms:
            try:
                with transaction.atomic():
                    self.apply(form)
            except DomainError as exc:
                self.refusals.append(f"{exc.message} ({exc.code})")
        return []

    def apply(self, form: forms.ModelForm) -> None:
        raise NotImplementedError


class MemberInlineFormSet(_ServiceFormSet):
    def apply(self, form: forms.ModelForm) -> None:
        actor, org, member = self.request.user, self.instance, form.instance
        if self.can_delete and self._should_delete_form(form):
            if member.pk:
                services.remove_member(
                    actor=actor, member=OrganizationMember.objects.get(pk=member.pk), as_staff=True
                )
            return
        if not form.has_changed():
            return
        if member.pk is None:
            user = form.cleaned_data.get("user")
            if user is not None:
                services.add_member(
                    actor=actor,
                    organization=org,
                    user=user,
                    role=form.cleaned_data.get("role") or "member",
                    as_staff=True,
                )
        elif "role" in form.changed_data:
            original = OrganizationMember.objects.get(pk=member.pk)
            services.change_member_role(
                actor=actor, member=original, role=form.cleaned_data["role"], as_staff=True
            )


class _ServiceInline(admin.options.InlineModelAdmin):
    """Hands the request to its ``_ServiceFormSet`` (the services need the acting staff user)."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.request = request
        return formset


class OrganizationMemberInline(_ServiceInline, admin.TabularInline):
    model = OrganizationMember
    formset = MemberInlineFormSet
    fk_name = "organization"
    fields = ("user", "role", "status", "invite_email", "invite_expires_at", "joined_at")
    readonly_fields = ("status", "invite_email", "invite_expires_at", "joined_at")
    raw_id_fields = ("user",)
    extra = 0
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class _OneToOneInline(_ServiceInline, admin.StackedInline):
    can_delete = False
    extra = 0
    max_num = 1


class SettingsInlineFormSet(_ServiceFormSet):
    service_name = "update_settings"

    def apply(self, form: forms.ModelForm) -> None:
        if not form.has_changed() or form.instance.pk is None:
            return
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        getattr(services, self.service_name)(
            actor=self.request.user, organization=self.instance, as_staff=True, **changes
        )


class PolicyInlineFormSet(SettingsInlineFormSet):
    service_name = "update_security_policy"


class OrganizationSettingsInline(_OneToOneInline):
    model = OrganizationSettings
    formset = SettingsInlineFormSet
    fields = services.organizations.SETTINGS_FIELDS


class OrganizationSecurityPolicyInline(_OneToOneInline):
    model = OrganizationSecurityPolicy
    formset = PolicyInlineFormSet
    fields = (*services.organizations.POLICY_FIELDS, "updated_by")
    readonly_fields = ("updated_by",)


class OrganizationAdminForm(forms.ModelForm):
    website_url = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = Organization
        fields = services.organizations.PROFILE_FIELDS


class TransferForm(forms.Form):
    new_owner = forms.ModelChoiceField(queryset=OrganizationMember.objects.none(), label="New owner")

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_owner"].queryset = (
            OrganizationMember.objects.filter(organization=organization, status="active", user__is_ai=False)
            .exclude(role="owner")
            .select_related("user")
        )
        self.fields["new_owner"].label_from_instance = lambda m: f"{m.user} ({m.role})"


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationAdminForm
    list_display = ("name", "slug", "network", "members", "created_by", "archived_at", "created_at")
    list_filter = (ArchivedFilter, "network")
    search_fields = ("name", "slug", "created_by__email")
    list_select_related = ("network", "created_by")
    readonly_fields = ("network", "created_by", "archived_at", "created_at", "audit_log")
    inlines = (OrganizationSettingsInline, OrganizationSecurityPolicyInline, OrganizationMemberInline)
    actions = ("archive", "restore", "transfer_ownership")
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        return (*OrganizationAdminForm.Meta.fields, *self.readonly_fields)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_members=Count("members", filter=Q(members__status="active"), distinct=True))
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # organizations are created by their owners (API); staff edit, archive, restore

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # archive instead

    @admin.display(description="Members", ordering="_members")
    def members(self, obj: Organization) -> int:
        return getattr(obj, "_members", 0)

    @admin.display(description="Audit log")
    def audit_log(self, obj: Organization) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:core_auditevent_changelist") + f"?organization__id__exact={obj.pk}"
        return format_html('<a href="{}">Audit events of this organization</a>', url)

    def save_model(self, request, obj, form, change):
        if not change:
            return
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        original = Organization.objects.get(pk=obj.pk)
        try:
            services.update_organization(actor=request.user, organization=original, as_staff=True, **changes)
        except DomainError as exc:
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            formset.save()
            for refusal in getattr(formset, "refusals", []):
                self.message_user(request, f"Not saved: {refusal}", messages.ERROR)

    def _each(self, request, queryset, fn, verb: str) -> None:
        done = 0
        for org in queryset:
            try:
                fn(actor=request.user, organization=org, as_staff=True)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{org}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{verb} {done} organization(s).", messages.SUCCESS)

    @admin.action(description="Archive selected organizations (pauses their agents)")
    def archive(self, request, queryset):
        self._each(request, queryset, services.archive_organization, "Archived")

    @admin.action(description="Restore selected organizations")
    def restore(self, request, queryset):
        self._each(request, queryset, services.restore_organization, "Restored")

    @admin.action(description="Transfer ownership (one organization)")
    def transfer_ownership(self, request, queryset) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one organization.", messages.ERROR)
            return None
        org = queryset.get()
        form = TransferForm(request.POST if "apply" in request.POST else None, organization=org)
        if "apply" in request.POST and form.is_valid():
            member = form.cleaned_data["new_owner"]
            try:
                services.transfer_ownership(
                    actor=request.user, organization=org, new_owner=member.user, as_staff=True
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return None
            self.message_user(request, f"{member.user} now owns {org}.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Transfer ownership of {org}",
            "organization": org,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "organizations/admin/transfer_ownership.html", context)


@admin.register(OrganizationMember)
class OrganizationMemberAdmin(admin.ModelAdmin):
    """Memberships and invitations across organizations (read-only; change them on the organization)."""

    list_display = (
        "organization",
        "user",
        "invite_email",
        "role",
        "status",
        "invite_expires_at",
        "joined_at",
    )
    list_filter = ("role", "status", "network")
    search_fields = ("organization__name", "user__email", "user__handle", "invite_email")
    list_select_related = ("organization", "user")
    exclude = ("invite_token_hash",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
