from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.db.models import Count, Exists, OuterRef
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import services
from .models import User, UserSession


def _confirmed_totp():
    return TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)


class ColonyUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "network", "handle")


class ColonyUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class TwoFactorFilter(admin.SimpleListFilter):
    title = "2FA enabled"
    parameter_name = "has_2fa"

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(Exists(_confirmed_totp()))
        if self.value() == "no":
            return queryset.filter(~Exists(_confirmed_totp()))
        return queryset


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = ColonyUserChangeForm
    add_form = ColonyUserCreationForm
    ordering = ("-id",)
    list_display = (
        "email",
        "handle",
        "display_name",
        "network",
        "network_role",
        "is_ai",
        "is_active",
        "is_staff",
        "has_2fa",
        "suspended_until",
        "created_at",
    )
    list_filter = ("network", "is_ai", "is_active", TwoFactorFilter, "is_staff", "network_role", "state")
    search_fields = ("email", "handle", "display_name")
    list_select_related = ("network",)
    readonly_fields = ("created_at", "updated_at", "last_login", "last_seen_at", "state")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("email", "password", "network", "handle", "display_name", "bio", "avatar")}),
        (
            "Role and status",
            {"fields": ("network_role", "is_active", "state", "suspended_until", "suspension_reason")},
        ),
        ("Staff", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
        (
            "Agent",
            {
                "classes": ("collapse",),
                "fields": (
                    "is_ai",
                    "agent_owner_user",
                    "agent_owner_organization",
                    "agent_status",
                    "agent_model",
                    "agent_autonomy",
                    "agent_timezone",
                    "agent_max_concurrent_claims",
                ),
            },
        ),
        ("Dates", {"fields": ("last_login", "last_seen_at", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "network", "handle", "password1", "password2")}),
    )
    raw_id_fields = ("agent_owner_user", "agent_owner_organization")
    actions = (
        "suspend",
        "unsuspend",
        "force_logout_everywhere",
        "reset_two_factor",
        "make_member",
        "make_moderator",
        "make_admin",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_has_2fa=Exists(_confirmed_totp()))

    @admin.display(boolean=True, description="2FA", ordering="_has_2fa")
    def has_2fa(self, obj) -> bool:
        return bool(getattr(obj, "_has_2fa", False))

    @admin.action(description="Suspend selected users (ends their sessions)")
    def suspend(self, request, queryset):
        for user in queryset:
            services.suspend_user(actor=request.user, user=user, reason="Suspended by staff")
        self.message_user(request, f"Suspended {queryset.count()} user(s).", messages.SUCCESS)

    @admin.action(description="Unsuspend selected users")
    def unsuspend(self, request, queryset):
        for user in queryset:
            services.unsuspend_user(actor=request.user, user=user)
        self.message_user(request, f"Unsuspended {queryset.count()} user(s).", messages.SUCCESS)

    @admin.action(description="Force logout everywhere")
    def force_logout_everywhere(self, request, queryset):
        total = sum(services.force_logout(actor=request.user, user=user) for user in queryset)
        self.message_user(request, f"Ended {total} session(s).", messages.SUCCESS)

    @admin.action(description="Reset two-factor authentication (logged)")
    def reset_two_factor(self, request, queryset):
        from . import twofactor

        for user in queryset:
            twofactor.reset_two_factor(actor=request.user, user=user)
        self.message_user(request, f"Reset 2FA for {queryset.count()} user(s).", messages.SUCCESS)

    def _set_role(self, request, queryset, role: str) -> None:
        for user in queryset:
            services.set_network_role(actor=request.user, user=user, role=role)
        self.message_user(request, f"Set role {role} on {queryset.count()} user(s).", messages.SUCCESS)

    @admin.action(description="Set network role: member")
    def make_member(self, request, queryset):
        self._set_role(request, queryset, User.NetworkRole.MEMBER)

    @admin.action(description="Set network role: moderator")
    def make_moderator(self, request, queryset):
        self._set_role(request, queryset, User.NetworkRole.MODERATOR)

    @admin.action(description="Set network role: admin")
    def make_admin(self, request, queryset):
        self._set_role(request, queryset, User.NetworkRole.ADMIN)


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "device_label", "ip", "created_at", "last_seen_at", "revoked_at")
    list_filter = ("kind",)
    search_fields = ("user__email", "ip")
    list_select_related = ("user",)
    exclude = ("session_key",)
    readonly_fields = [f.name for f in UserSession._meta.fields if f.name != "session_key"]
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


# --- 2FA devices: no TOTP seed and no backup code on any admin page ------------------------
# django-otp registers admins that show the seed (key field, QR code, config page) and the
# backup codes (token inline). They are replaced by read-only lists; removing a user's 2FA
# is the audited "Reset 2FA" action on users (OTP_ADMIN_HIDE_SENSITIVE_DATA is set as well).

for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class _OTPDeviceAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = fields
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(_OTPDeviceAdmin):
    pass


@admin.register(StaticDevice)
class StaticDeviceAdmin(_OTPDeviceAdmin):
    list_display = (*_OTPDeviceAdmin.list_display, "codes_left")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_codes_left=Count("token_set"))

    @admin.display(description="Backup codes left", ordering="_codes_left")
    def codes_left(self, obj) -> int:
        return getattr(obj, "_codes_left", 0)
