from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apps.core.choices import choices_check
from apps.core.models import BaseModel, NetworkScopedModel

handle_validator = RegexValidator(r"^[a-z0-9_]{3,30}$", "Use 3–30 lower-case letters, digits or underscores.")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        from apps.networks.selectors import default_network

        email = self.normalize_email(email).lower() if email else None
        if extra.get("network") is None and extra.get("network_id") is None:
            extra["network"] = default_network()
        user = self.model(email=email, **extra)
        if not user.handle:
            from .services import unique_handle

            user.handle = unique_handle(network=user.network, seed=(email or "agent").split("@")[0])
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email=None, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        if extra.get("is_staff") is not True or extra.get("is_superuser") is not True:
            raise ValueError("A superuser needs is_staff=True and is_superuser=True.")
        return self._create_user(email, password, **extra)


class UserNetworkRole(models.TextChoices):
    MEMBER = "member"
    MODERATOR = "moderator"
    ADMIN = "admin"


class UserState(models.TextChoices):
    ACTIVE = "active"
    PENDING_DELETION = "pending_deletion"
    DELETED = "deleted"


class UserAgentStatus(models.TextChoices):
    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"


class UserAgentAutonomy(models.TextChoices):
    APPROVAL = "approval"
    SUGGEST = "suggest"
    AUTONOMOUS = "autonomous"


class User(NetworkScopedModel, AbstractBaseUser, PermissionsMixin):
    """A person or an AI agent (``is_ai``); its ``network`` is its home."""

    NetworkRole = UserNetworkRole

    State = UserState

    AgentStatus = UserAgentStatus

    AgentAutonomy = UserAgentAutonomy

    # editable here (unlike other tenant rows): staff create users in a network
    network = models.ForeignKey(
        "networks.Network", on_delete=models.PROTECT, related_name="users", db_index=True
    )
    email = models.EmailField(max_length=254, null=True, blank=True, unique=True)
    handle = models.CharField(max_length=30, validators=[handle_validator])
    display_name = models.CharField(max_length=80, blank=True, default="")
    avatar = models.ImageField(upload_to="avatars/%Y/%m/", null=True, blank=True)
    bio = models.CharField(max_length=500, blank=True, default="")
    network_role = models.CharField(max_length=20, choices=NetworkRole.choices, default=NetworkRole.MEMBER)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    state = models.CharField(max_length=20, choices=State.choices, default=State.ACTIVE)
    suspended_until = models.DateTimeField(null=True, blank=True)
    suspension_reason = models.TextField(blank=True, default="")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    signup_attribution = models.JSONField(default=dict, blank=True)

    # --- agent columns (null unless is_ai) ---
    is_ai = models.BooleanField(default=False)
    agent_owner_user = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_agents"
    )
    agent_owner_organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="agents",
    )
    agent_status = models.CharField(max_length=20, choices=AgentStatus.choices, null=True, blank=True)
    agent_model = models.CharField(max_length=200, null=True, blank=True)
    agent_provider_config = models.ForeignKey(
        "billing.AIProviderConfig", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent_system_prompt = models.TextField(null=True, blank=True)
    agent_temperature = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    agent_max_output_tokens = models.IntegerField(null=True, blank=True)
    agent_timezone = models.CharField(max_length=64, null=True, blank=True)
    agent_autonomy = models.CharField(max_length=20, choices=AgentAutonomy.choices, null=True, blank=True)
    agent_capabilities = ArrayField(models.CharField(max_length=64), null=True, blank=True)
    agent_daily_budget_micros = models.BigIntegerField(null=True, blank=True)
    agent_max_concurrent_claims = models.SmallIntegerField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "handle"], name="user_network_handle_uniq"),
            models.CheckConstraint(
                condition=models.Q(is_ai=True) | models.Q(email__isnull=False) | models.Q(state="deleted"),
                name="user_human_has_email",
            ),
            models.CheckConstraint(
                condition=models.Q(email__isnull=True) | models.Q(email=Lower("email")),
                name="user_email_lowercase",
            ),
            models.CheckConstraint(
                condition=models.Q(is_ai=True, agent_status__isnull=False)
                | models.Q(is_ai=False, agent_status__isnull=True),
                name="user_agent_status_iff_ai",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        is_ai=False, agent_owner_user__isnull=True, agent_owner_organization__isnull=True
                    )
                    | models.Q(
                        is_ai=True, agent_owner_user__isnull=False, agent_owner_organization__isnull=True
                    )
                    | models.Q(
                        is_ai=True, agent_owner_user__isnull=True, agent_owner_organization__isnull=False
                    )
                ),
                name="user_agent_owner_xor",
            ),
            choices_check("network_role", UserNetworkRole, model="user"),
            choices_check("state", UserState, model="user"),
            choices_check("agent_status", UserAgentStatus, model="user"),
            choices_check("agent_autonomy", UserAgentAutonomy, model="user"),
        ]
        # trigram GIN indexes on handle/display_name are created by migration
        # 0002 where the server has pg_trgm (the embedded pgserver build has not)
        indexes = [
            models.Index(fields=["network", "is_ai", "id"], name="user_network_ai_id"),
        ]

    def __str__(self) -> str:
        return self.email or f"@{self.handle}"

    def get_full_name(self) -> str:
        return self.display_name or self.handle

    def get_short_name(self) -> str:
        return self.display_name or self.handle

    @property
    def is_suspended(self) -> bool:
        return bool(self.suspended_until and self.suspended_until > timezone.now())


class UserSessionKind(models.TextChoices):
    BROWSER = "browser"
    APP = "app"


class UserSession(BaseModel):
    """One row per login: the user's view of their sessions, and revocation."""

    Kind = UserSessionKind

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="user_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.BROWSER)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    device_label = models.CharField(max_length=200, blank=True, default="")
    last_seen_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    otp_verified_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    active_organization = models.ForeignKey(
        "organizations.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-id",)
        indexes = [
            models.Index(fields=["user", "revoked_at"], name="usersession_user_revoked"),
            # the sessions list: the user's live rows, newest first
            models.Index(
                fields=["user", "-id"],
                condition=models.Q(revoked_at__isnull=True),
                name="usersession_user_live",
            ),
        ]
        constraints = [choices_check("kind", UserSessionKind, model="usersession")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.device_label}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
