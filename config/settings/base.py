"""Settings shared by every environment.

Only the modules in ``config/settings`` read the environment, through the one
``env`` below. Required values have no default: a missing one stops start-up
with Django's ``ImproperlyConfigured`` naming the variable.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=True) and (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)


def _required(name: str, cast=str, **kwargs):
    """Read a required variable; a missing or malformed one names itself."""
    try:
        return env.get_value(name, cast=cast, **kwargs)
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"{name} is required: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{name} is malformed: {exc}") from exc


def _parse_encryption_keys(raw: str) -> dict[int, bytes]:
    """``FIELD_ENCRYPTION_KEYS`` = ``id:base64key[,id:base64key…]``, newest first."""
    import base64
    import binascii

    keys: dict[int, bytes] = {}
    for part in [p.strip() for p in raw.split(",") if p.strip()]:
        key_id, sep, encoded = part.partition(":")
        if not sep or not key_id.isdigit() or not 1 <= int(key_id) <= 255:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS is malformed: each entry must be '<id 1-255>:<base64 32-byte key>'"
            )
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS is malformed: key {key_id} is not base64"
            ) from exc
        if len(key) != 32:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS is malformed: key {key_id} must decode to 32 bytes"
            )
        if int(key_id) in keys:
            raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS is malformed: key id {key_id} repeats")
        keys[int(key_id)] = key
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is required and empty")
    return keys


# --- core -------------------------------------------------------------------
SECRET_KEY = _required("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Proxies whose X-Forwarded-For is believed (IPs/CIDRs, "*" = any; empty = none). The
# Procfile passes the same variable to uvicorn's --forwarded-allow-ips (apps/core/clientip.py).
FORWARDED_ALLOW_IPS = env.list("FORWARDED_ALLOW_IPS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
FIELD_ENCRYPTION_KEYS = _parse_encryption_keys(_required("FIELD_ENCRYPTION_KEYS"))
API_KEY_PEPPER = _required("API_KEY_PEPPER")

DJANGO_APPS = [
    # django.contrib.admin with the Colony site: staff sign in through allauth (2FA, throttles)
    "apps.accounts.admin_apps.ColonyAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files (offline docs)
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    "allauth.headless",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_celery_beat",
    "channels",
]
LOCAL_APPS = [
    "apps.core",
    "apps.networks",
    "apps.accounts",
    "apps.preferences",
    "apps.organizations",
    "apps.projects",
    "apps.brain",
    "apps.apikeys",
    "apps.realtime",
    "apps.inbox",
    "apps.notifications",
    "apps.social",
    "apps.sharing",
    "apps.chat",
    "apps.billing",
    "apps.agents",
    "apps.integrations",
    "apps.dispatcher",
    "apps.bounties",
    "apps.invites",
    "apps.mailing",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

# Every entry is sync- and async-capable; under ASGI the chain and the view
# run in one thread hop (apps.core.handlers). request.user comes from the
# principal cache (apps.accounts.middleware.AuthenticationMiddleware).
MIDDLEWARE = [
    "apps.core.middleware.RequestScopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "apps.accounts.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.core.middleware.NetworkMiddleware",
    "apps.accounts.middleware.UserSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.network",
            ],
        },
    },
]

# --- data -------------------------------------------------------------------
DATABASES = {"default": _required("DATABASE_URL", cast=env.db_url_config)}
_db = DATABASES["default"]
if not _db.get("HOST") and _db.get("OPTIONS", {}).get("host"):
    # postgresql://user@/db?host=/socket/dir (the embedded server's form)
    _db["HOST"] = _db["OPTIONS"].pop("host")
# Under ASGI every request's sync code may run in a fresh thread, so
# per-thread persistent connections pile up; a psycopg pool per process
# bounds them (DATABASE_POOL_MAX_SIZE per web/worker/beat process).
if env.bool("DATABASE_POOL", default=True):
    _db["CONN_MAX_AGE"] = 0
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
        "timeout": 10,
    }
else:
    _db.setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    _db.setdefault("CONN_HEALTH_CHECKS", True)
# Behind PgBouncer (or another pooler) in transaction mode each transaction may
# land on another server connection, so nothing may live in a server session:
# no prepared statements (Django's default prepare_threshold=None, pinned here)
# and no server-side cursors (QuerySet.iterator() outside a transaction).
DATABASE_BEHIND_POOLER = env.bool("DATABASE_BEHIND_POOLER", default=False)
if DATABASE_BEHIND_POOLER:
    _db.setdefault("OPTIONS", {})["prepare_threshold"] = None
    _db["DISABLE_SERVER_SIDE_CURSORS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Threads one web process runs views on (apps.core.handlers), reused from request to request;
# requests beyond this wait in the event loop. One process runs Python on one core at a time, so
# more threads add GIL switching, not throughput. A thread (and its pooled database connection) is
# given back before a complete response is sent, so slow clients hold neither; kept below
# DATABASE_POOL_MAX_SIZE, a request thread never waits for a database connection.
ASGI_REQUEST_THREADS = env.int("ASGI_REQUEST_THREADS", default=8)

REDIS_URL = _required("REDIS_URL")
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=50)
# first part of every key of ours (``apps.core.redis.key`` and the cache): deployments sharing a
# Redis server keep apart, and the near cache tracks only its own deployment's keys
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="colony")
# the process-local copies of hot entries (apps.core.nearcache); TTL is a backstop, Redis's
# invalidation pushes drop a copy the moment its key changes
NEAR_CACHE_ENABLED = env.bool("NEAR_CACHE_ENABLED", default=True)
NEAR_CACHE_TTL = env.float("NEAR_CACHE_TTL", default=30.0)
NEAR_CACHE_MAX_ENTRIES = env.int("NEAR_CACHE_MAX_ENTRIES", default=10_000)
CACHES = {
    "default": {
        "BACKEND": "apps.core.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        "TIMEOUT": 300,
    }
}
SESSION_ENGINE = "apps.accounts.session_store"  # cached_db, loaded with its principal in one round trip
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 24 * 14)

# redis-py ≥ 6 reads with a 5 s socket timeout by default, the same as channels_redis' 5 s BZPOPMIN
# wait: an idle socket's receive could time out client-side and crash its consumer. Reads wait longer.
CHANNEL_LAYER_SOCKET_TIMEOUT = 30


def channel_layer_host(url: str) -> dict:
    return {"address": url, "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT}


CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "apps.core.channel_layer.RedisChannelLayer",  # cancel-safe receive on 3.11
        "CONFIG": {"hosts": [channel_layer_host(REDIS_URL)], "prefix": "colony:asgi", "capacity": 500},
    }
}

# --- auth -------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/accounts/profile/"

ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "apps.accounts.adapters.SocialAccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_CONFIRMATION_HMAC = False
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_FORMS = {"signup": "apps.accounts.forms.SignupForm"}
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    # allauth locks an address out after repeated failures (per email, per IP)
    "login_failed": env.str("ACCOUNT_LOGIN_FAILED_RATE", default="5/5m/key,20/5m/ip"),
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "reauthenticate": "10/m/user",
}
ACCOUNT_REAUTHENTICATION_TIMEOUT = 600
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env.str("ACCOUNT_DEFAULT_HTTP_PROTOCOL", default="https")
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_QUERY_EMAIL = True
HEADLESS_SERVE_SPECIFICATION = True
HEADLESS_FRONTEND_URLS = {
    "account_confirm_email": f"{SITE_URL}/accounts/confirm-email/{{key}}/",
    "account_reset_password_from_key": f"{SITE_URL}/accounts/password/reset/key/{{key}}/",
    "account_signup": f"{SITE_URL}/accounts/signup/",
}

OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Colony")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # no TOTP seed or backup code in django-otp's admin views
MFA_FAILED_CODE_RATE = env.str("MFA_FAILED_CODE_RATE", default="5/5m")
MFA_REAUTH_SECONDS = 600

# --- API --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.apikeys.authentication.ApiKeyAuthentication",
        "apps.accounts.authentication.SessionTokenAuthentication",
        "apps.accounts.authentication.CookieSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.negotiation.ContentNegotiation",
    "DEFAULT_RENDERER_CLASSES": ["apps.core.renderers.JSONRenderer"],  # DRF output, orjson speed
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if env.bool("API_BROWSABLE", default=False):
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")
SPECTACULAR_SETTINGS = {
    "TITLE": "Colony API",
    "DESCRIPTION": "Multi-tenant platform where people and AI agents build projects together.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CheckoutKindEnum": "apps.billing.stripe_models.CheckoutKind",
        "BillingPlanEnum": "apps.billing.stripe_models.PlanCode",
        "RoadmapTaskKindEnum": "apps.dispatcher.models.TaskKind",
        "OutcomeCheckKindEnum": "apps.dispatcher.models.CheckKind",
        "RoadmapChallengeReasonEnum": "apps.dispatcher.models.ChallengeReason",
        "TreasuryTransactionKindEnum": "apps.bounties.models.TxKind",
        "LedgerSystemAccountEnum": "apps.bounties.models.SystemAccount",
        "AIProviderKindEnum": "apps.billing.models.ProviderKind",
        "AgentFactKindEnum": "apps.agents.models.FactKind",
        "AgentAccessRoleEnum": "apps.agents.models.AccessRole",
        "NetworkStatusEnum": "apps.networks.models.Network.Status",
        "EmailCampaignKindEnum": "apps.mailing.models.CampaignKind",
        "EmailCampaignStatusEnum": "apps.mailing.models.CampaignStatus",
        "EmailSendStatusEnum": "apps.mailing.models.SendStatus",
        "EmailBounceTypeEnum": "apps.mailing.models.BounceType",
        "EmailSuppressionScopeEnum": "apps.mailing.models.SuppressionScope",
        "EmailSuppressionReasonEnum": "apps.mailing.models.SuppressionReason",
        "InviteCodeKindEnum": "apps.invites.models.InviteCodeKind",
        "InviteWaveStatusEnum": "apps.invites.models.WaveStatus",
        "WaitlistStatusEnum": "apps.invites.models.WaitlistStatus",
        "ConversationKindEnum": "apps.chat.models.ConversationKind",
        "ConversationMemberRoleEnum": "apps.chat.models.MemberRole",
        "ConversationNotifyEnum": "apps.chat.models.NotifyLevel",
        "MessageKindEnum": "apps.chat.models.MessageKind",
        "InboxKindEnum": "apps.inbox.models.InboxKind",
        "InboxActionStateEnum": "apps.inbox.models.ActionState",
        "NotificationChannelEnum": "apps.notifications.models.Channel",
        "NotificationStatusEnum": "apps.notifications.models.NotificationStatus",
        "PushPlatformEnum": "apps.notifications.models.Platform",
        "PushProviderEnum": "apps.notifications.models.Provider",
        "UploadKindEnum": "apps.core.models.UploadKind",
        "UploadStatusEnum": "apps.core.models.UploadStatus",
        "CommunityVisibilityEnum": "apps.social.models.CommunityVisibility",
        "CommunityMemberRoleEnum": "apps.social.models.MemberRole",
        "CommunityGrantableRoleEnum": "apps.social.models.GrantableRole",
        "CommunityMemberStatusEnum": "apps.social.models.MemberStatus",
        "PostVisibilityEnum": "apps.social.models.PostVisibility",
        "PostStatusEnum": "apps.social.models.PostStatus",
        "ReactionKindEnum": "apps.social.models.ReactionKind",
        "ReportReasonEnum": "apps.social.models.ReportReason",
        "ReportStatusEnum": "apps.social.models.ReportStatus",
        "ModerationActionEnum": "apps.social.models.ModerationAction",
        "ModerationTargetEnum": "apps.social.models.ModerationTarget",
        "ShareTargetEnum": "apps.sharing.models.ShareTarget",
        "ShareChannelEnum": "apps.sharing.models.ShareChannel",
        "OrganizationMemberRoleEnum": "apps.organizations.models.OrganizationMemberRole",
        "ProjectVisibilityEnum": "apps.projects.models.ProjectVisibility",
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums"],
    # the docs pages load pinned assets from our static files, never a CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}
# Client JSON bodies (DRF, allauth headless, webhooks: apps/core/parsers.py): larger or deeper → 400.
JSON_MAX_BODY_BYTES = env.int("JSON_MAX_BODY_BYTES", default=1024 * 1024)
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=64)
API_KEY_RATE_LIMIT_PER_MINUTE = env.int("API_KEY_RATE_LIMIT_PER_MINUTE", default=600)
API_KEY_FAILURE_RATE_PER_IP = env.str("API_KEY_FAILURE_RATE_PER_IP", default="60/m")
API_KEY_FAILURE_RATE_PER_PREFIX = env.str("API_KEY_FAILURE_RATE_PER_PREFIX", default="60/m")
API_KEY_MAX_ACTIVE_PER_USER = env.int("API_KEY_MAX_ACTIVE_PER_USER", default=25)

# --- tenancy ----------------------------------------------------------------
DEFAULT_NETWORK_SLUG = env.str("DEFAULT_NETWORK_SLUG", default="colony")
DEFAULT_NETWORK_NAME = env.str("DEFAULT_NETWORK_NAME", default="Colony")

# --- background work --------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis broker: an unacknowledged message (its worker died: late acks) is handed out again after
# the visibility timeout; the restore sweep runs every interval × throttle seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "core.heartbeat": {"task": "core.heartbeat", "schedule": timedelta(seconds=30)},
    "core.purge_stale_uploads": {"task": "core.purge_stale_uploads", "schedule": crontab(minute=25)},
    "accounts.clear_sessions": {
        "task": "accounts.clear_sessions",
        "schedule": crontab(hour=3, minute=10),
    },
    "preferences.purge_due_accounts": {
        "task": "preferences.purge_due_accounts",
        "schedule": crontab(minute=5),
    },
    "preferences.expire_email_changes": {
        "task": "preferences.expire_email_changes",
        "schedule": crontab(hour=3, minute=20),
    },
    "preferences.prune_login_history": {
        "task": "preferences.prune_login_history",
        "schedule": crontab(hour=3, minute=30),
    },
    "preferences.expire_exports": {
        "task": "preferences.expire_exports",
        "schedule": crontab(hour=3, minute=40),
    },
    "organizations.expire_invitations": {
        "task": "organizations.expire_invitations",
        "schedule": crontab(hour=3, minute=50),
    },
    "projects.reap_idle_sandboxes": {
        "task": "projects.reap_idle_sandboxes",
        "schedule": timedelta(minutes=5),
    },
    "projects.refresh_bucket_usage": {
        "task": "projects.refresh_bucket_usage",
        "schedule": crontab(minute=15),
    },
    "projects.reconcile_provisioning": {
        "task": "projects.reconcile_provisioning",
        "schedule": timedelta(minutes=10),
    },
    "apikeys.rollup_usage": {"task": "apikeys.rollup_usage", "schedule": timedelta(minutes=5)},
    "apikeys.expiry_reminders": {
        "task": "apikeys.expiry_reminders",
        "schedule": crontab(hour=8, minute=0),
    },
    "apikeys.purge_usage": {"task": "apikeys.purge_usage", "schedule": crontab(hour=4, minute=10)},
    # --- inbox / notifications ---
    "notifications.retry_failed": {"task": "notifications.retry_failed", "schedule": timedelta(minutes=5)},
    "notifications.send_digests": {"task": "notifications.send_digests", "schedule": crontab(minute=2)},
    "notifications.prune": {"task": "notifications.prune", "schedule": crontab(hour=4, minute=20)},
    "inbox.purge": {"task": "inbox.purge", "schedule": crontab(hour=4, minute=30)},
    # --- social / sharing ---
    "social.refresh_hot_ranks": {"task": "social.refresh_hot_ranks", "schedule": timedelta(minutes=10)},
    "social.expire_bans": {"task": "social.expire_bans", "schedule": timedelta(minutes=5)},
    "social.recount": {"task": "social.recount", "schedule": crontab(hour=4, minute=40)},
    "sharing.sync_unique_visitors": {
        "task": "sharing.sync_unique_visitors",
        "schedule": timedelta(minutes=10),
    },
    # --- chat ---
    # --- agents / AI usage ---
    "agents.dispatch_due_schedules": {
        "task": "agents.dispatch_due_schedules",
        "schedule": timedelta(minutes=1),
    },
    "agents.summarize_conversations": {
        "task": "agents.summarize_conversations",
        "schedule": timedelta(minutes=10),
    },
    "agents.prune_memory": {"task": "agents.prune_memory", "schedule": crontab(hour=4, minute=20)},
    "agents.purge_guard_logs": {"task": "agents.purge_guard_logs", "schedule": crontab(hour=4, minute=30)},
    "billing.rollup_ai_usage": {"task": "billing.rollup_ai_usage", "schedule": timedelta(minutes=15)},
    # --- integrations ---
    "integrations.expire_pending": {"task": "integrations.expire_pending", "schedule": timedelta(minutes=5)},
    "integrations.refresh_connections": {
        "task": "integrations.refresh_connections",
        "schedule": timedelta(hours=1),
    },
    "integrations.purge_logs": {"task": "integrations.purge_logs", "schedule": crontab(hour=4, minute=40)},
    # --- billing (Stripe) ---
    "billing.report_usage": {"task": "billing.report_usage", "schedule": crontab(hour=0, minute=30)},
    "billing.reconcile_subscriptions": {
        "task": "billing.reconcile_subscriptions",
        "schedule": crontab(hour=2, minute=40),
    },
    "billing.retry_stripe_events": {"task": "billing.retry_stripe_events", "schedule": timedelta(minutes=10)},
    # --- dispatcher / bounties ---
    "dispatcher.tick": {"task": "dispatcher.tick", "schedule": timedelta(seconds=15)},
    "dispatcher.reap_expired_claims": {
        "task": "dispatcher.reap_expired_claims",
        "schedule": timedelta(minutes=1),
    },
    "dispatcher.finalize_accepted": {
        "task": "dispatcher.finalize_accepted",
        "schedule": timedelta(minutes=5),
    },
    "dispatcher.timeout_verifications": {
        "task": "dispatcher.timeout_verifications",
        "schedule": timedelta(minutes=5),
    },
    "bounties.refund_expired_escrows": {
        "task": "bounties.refund_expired_escrows",
        "schedule": crontab(minute=15),
    },
    "bounties.reconcile_ledger": {"task": "bounties.reconcile_ledger", "schedule": crontab(hour=2, minute=0)},
    # --- invites / mailing ---
    "invites.release_due_waves": {"task": "invites.release_due_waves", "schedule": timedelta(minutes=5)},
    "invites.repair_scores": {"task": "invites.repair_scores", "schedule": crontab(minute=25)},
    "mailing.start_due_campaigns": {"task": "mailing.start_due_campaigns", "schedule": timedelta(minutes=1)},
    "mailing.finalize_campaigns": {"task": "mailing.finalize_campaigns", "schedule": timedelta(minutes=5)},
    "mailing.expire_suppressions": {
        "task": "mailing.expire_suppressions",
        "schedule": crontab(hour=4, minute=40),
    },
}
CELERY_HEARTBEAT_STALE_SECONDS = env.int("CELERY_HEARTBEAT_STALE_SECONDS", default=120)

# --- email ------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Colony <no-reply@colony.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
AWS_REGION = env.str("AWS_REGION", default="us-east-1")
AWS_SES_ENDPOINT_URL = env.str("AWS_SES_ENDPOINT_URL", default="") or None

# --- files ------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "media"))
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_REGION_NAME = AWS_REGION
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
STORAGES = {
    "default": {
        "BACKEND": (
            "storages.backends.s3.S3Storage"
            if AWS_STORAGE_BUCKET_NAME
            else "django.core.files.storage.FileSystemStorage"
        ),
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploads (apps/core/uploads.py): size limits per kind, pending and unattached lifetimes.
UPLOAD_MAX_BYTES = {
    "image": env.int("UPLOAD_MAX_IMAGE_MB", default=20) * 1024 * 1024,
    "video": env.int("UPLOAD_MAX_VIDEO_MB", default=200) * 1024 * 1024,
    "file": env.int("UPLOAD_MAX_FILE_MB", default=50) * 1024 * 1024,
}
UPLOAD_MAX_IMAGE_PIXELS = env.int("UPLOAD_MAX_IMAGE_PIXELS", default=50_000_000)
UPLOAD_PENDING_TTL_MINUTES = env.int("UPLOAD_PENDING_TTL_MINUTES", default=60)
UPLOAD_UNCLAIMED_TTL_HOURS = env.int("UPLOAD_UNCLAIMED_TTL_HOURS", default=24)

# --- projects infrastructure ---------------------------------------------------
PROJECT_DATABASES_URL = env.str("PROJECT_DATABASES_URL", default="")
PROJECT_STORAGE_ENDPOINT_URL = env.str("PROJECT_STORAGE_ENDPOINT_URL", default="") or None
PROJECT_STORAGE_REGION = env.str("PROJECT_STORAGE_REGION", default=AWS_REGION)
PROJECT_STORAGE_ACCESS_KEY_ID = env.str("PROJECT_STORAGE_ACCESS_KEY_ID", default="")
PROJECT_STORAGE_SECRET_ACCESS_KEY = env.str("PROJECT_STORAGE_SECRET_ACCESS_KEY", default="")
PROJECT_STORAGE_BUCKET_PREFIX = env.str("PROJECT_STORAGE_BUCKET_PREFIX", default="colony-")
INFRA_WEBHOOK_SECRET = env.str("INFRA_WEBHOOK_SECRET", default="")
INFRA_WEBHOOK_TOLERANCE_SECONDS = 300
# External sandbox / deploy providers (signed requests out, signed webhooks back).
PROJECT_SANDBOX_PROVIDER_URL = env.str("PROJECT_SANDBOX_PROVIDER_URL", default="")
PROJECT_DEPLOY_PROVIDER_URL = env.str("PROJECT_DEPLOY_PROVIDER_URL", default="")
# Invitation link template with {token}; empty = the built-in acceptance page.
ORGANIZATION_INVITATION_URL = env.str("ORGANIZATION_INVITATION_URL", default="")

# --- accounts lifecycle --------------------------------------------------------
ACCOUNT_DELETION_GRACE_DAYS = env.int("ACCOUNT_DELETION_GRACE_DAYS", default=30)
DATA_EXPORT_TTL_DAYS = 7
LOGIN_HISTORY_RETENTION_DAYS = 365
EMAIL_CHANGE_TTL_HOURS = 24
USER_PREFERENCES_MAX_BYTES = 16 * 1024

# --- invites / mailing --------------------------------------------------------
# Waitlist: joins per hour per (salted) IP hash; the salt defaults to one derived from SECRET_KEY.
WAITLIST_JOIN_RATE = env.str("WAITLIST_JOIN_RATE", default="5/h")
WAITLIST_IP_SALT = env.str("WAITLIST_IP_SALT", default="")
WAITLIST_REFERRAL_BOOST = env.int("WAITLIST_REFERRAL_BOOST", default=10)
WAITLIST_REFERRAL_CAP = env.int("WAITLIST_REFERRAL_CAP", default=20)
WAITLIST_VERIFY_TTL_HOURS = env.int("WAITLIST_VERIFY_TTL_HOURS", default=48)
# Links in waitlist and invitation mail ({token} / {code}); empty = the built-in pages.
WAITLIST_VERIFY_URL = env.str("WAITLIST_VERIFY_URL", default="")
WAITLIST_STATUS_URL = env.str("WAITLIST_STATUS_URL", default="")
WAITLIST_REFERRAL_URL = env.str("WAITLIST_REFERRAL_URL", default="")
INVITE_SIGNUP_URL = env.str("INVITE_SIGNUP_URL", default="")
INVITE_CHECK_RATE = env.str("INVITE_CHECK_RATE", default="20/m")
INVITE_SEND_RATE = env.str("INVITE_SEND_RATE", default="20/d")
INVITE_BULK_MAX = env.int("INVITE_BULK_MAX", default=100_000)
# SES campaigns: account-wide send rate (messages/s, shared by every worker through Redis).
SES_MAX_SEND_RATE = env.int("SES_MAX_SEND_RATE", default=14)
SES_CONFIGURATION_SET = env.str("SES_CONFIGURATION_SET", default="")
# Sender domains campaigns may use (verified SES identities); empty = DEFAULT_FROM_EMAIL's domain
# and each network's from_email domain.
MAILING_FROM_DOMAINS = env.list("MAILING_FROM_DOMAINS", default=[])
MAILING_UNSUBSCRIBE_MAILTO = env.str("MAILING_UNSUBSCRIBE_MAILTO", default="")
MAILING_SEND_CONCURRENCY = env.int("MAILING_SEND_CONCURRENCY", default=2)
MAILING_FREEZE_BATCH = env.int("MAILING_FREEZE_BATCH", default=5000)
MAILING_STUCK_SENDING_MINUTES = env.int("MAILING_STUCK_SENDING_MINUTES", default=10)
MAILING_ERROR_RATIO_MIN_SAMPLE = env.int("MAILING_ERROR_RATIO_MIN_SAMPLE", default=100)
MAILING_SOFT_BOUNCE_LIMIT = env.int("MAILING_SOFT_BOUNCE_LIMIT", default=3)
MAILING_SOFT_BOUNCE_DAYS = 7
MAILING_UNSUBSCRIBE_TOKEN_DAYS = 365
# SNS → POST /api/v1/webhooks/ses/: signing certificates are fetched only from these hosts.
SES_SNS_HOST_PATTERN = env.str("SES_SNS_HOST_PATTERN", default=r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SES_SNS_REQUIRE_HTTPS = True
SES_SNS_TOPIC_ARNS = env.list("SES_SNS_TOPIC_ARNS", default=[])

# --- chat -------------------------------------------------------------------
CHAT_MESSAGE_MAX_CHARS = env.int("CHAT_MESSAGE_MAX_CHARS", default=8000)
# Per-user send rate: a burst of CHAT_SEND_BURST, then CHAT_SEND_PER_SECOND (token bucket).
CHAT_SEND_BURST = env.int("CHAT_SEND_BURST", default=20)
CHAT_SEND_PER_SECOND = env.float("CHAT_SEND_PER_SECOND", default=1.0)
CHAT_GROUP_MAX_MEMBERS = env.int("CHAT_GROUP_MAX_MEMBERS", default=500)
CHAT_REACTIONS_MAX_DISTINCT = 20
CHAT_EDIT_HISTORY_MAX = 20
CHAT_TYPING_INTERVAL_SECONDS = 3
CHAT_TYPING_EXPIRES_SECONDS = 6

# --- agents / AI providers ----------------------------------------------------
# Provider base URLs must be https and resolve to public addresses; True allows
# http and private/loopback hosts (tests, a local Ollama). Staff network configs may always.
AI_PROVIDER_ALLOW_PRIVATE_URLS = env.bool("AI_PROVIDER_ALLOW_PRIVATE_URLS", default=False)
AI_PROVIDER_TIMEOUT_SECONDS = env.float("AI_PROVIDER_TIMEOUT_SECONDS", default=60.0)
AI_PROVIDER_CONNECT_TIMEOUT_SECONDS = env.float("AI_PROVIDER_CONNECT_TIMEOUT_SECONDS", default=5.0)
AI_PROVIDER_MAX_RETRIES = env.int("AI_PROVIDER_MAX_RETRIES", default=2)
AI_DEFAULT_MAX_OUTPUT_TOKENS = env.int("AI_DEFAULT_MAX_OUTPUT_TOKENS", default=1024)
# Agent runs: recalled memory within this many tokens; guard refuses input past this many characters.
AGENT_MEMORY_TOKEN_BUDGET = env.int("AGENT_MEMORY_TOKEN_BUDGET", default=1500)
AGENT_MEMORY_MAX_LIVE_FACTS = 2000
AGENT_GUARD_MAX_INPUT_CHARS = env.int("AGENT_GUARD_MAX_INPUT_CHARS", default=20000)
AGENT_SCHEDULE_MIN_INTERVAL_MINUTES = 5
AGENT_SCHEDULE_MAX_FAILURES = 5
AGENT_SCHEDULE_CLAIM_BATCH = env.int("AGENT_SCHEDULE_CLAIM_BATCH", default=500)
PROMPT_GUARD_LOG_RETENTION_DAYS = 180

# --- dispatcher / bounties -------------------------------------------------------
# Ledger assets: code → decimals, chain (None = fiat) and the least payout (minor units).
BOUNTY_ASSETS = {
    "USD": {
        "decimals": 2,
        "chain": None,
        "min_payout_minor": env.int("BOUNTY_MIN_PAYOUT_USD_MINOR", default=1000),
    },
    "USDC-BASE": {
        "decimals": 6,
        "chain": "base",
        "min_payout_minor": env.int("BOUNTY_MIN_PAYOUT_USDC_MINOR", default=5_000_000),
    },
}
# Longest a lease may be extended by heartbeats, from the claim (seconds).
DISPATCHER_MAX_LEASE_SECONDS = env.int("DISPATCHER_MAX_LEASE_SECONDS", default=7 * 24 * 3600)
# Tasks matched per dispatcher tick and project.
DISPATCHER_TICK_BATCH = env.int("DISPATCHER_TICK_BATCH", default=50)
# http outcome checks may call private addresses (local test servers only).
DISPATCHER_HTTP_CHECKS_ALLOW_PRIVATE = env.bool("DISPATCHER_HTTP_CHECKS_ALLOW_PRIVATE", default=False)

# --- integrations --------------------------------------------------------------
# The Composio-style provider (its URL comes from settings only; no key = provider toolkits off).
COMPOSIO_BASE_URL = env.str("COMPOSIO_BASE_URL", default="https://backend.composio.dev")
COMPOSIO_API_KEY = env.str("COMPOSIO_API_KEY", default="")
COMPOSIO_WEBHOOK_SECRET = env.str("COMPOSIO_WEBHOOK_SECRET", default="")
# toolkit=auth-config-id pairs: COMPOSIO_AUTH_CONFIGS=github=ac_123,slack=ac_456
COMPOSIO_AUTH_CONFIGS = env.dict("COMPOSIO_AUTH_CONFIGS", default={})
# Where the connect flow may send the browser back (origins); default: the site itself.
INTEGRATIONS_RETURN_URL_ORIGINS = [
    o for o in env.list("INTEGRATIONS_RETURN_URL_ORIGINS", default=[]) if o
] or [SITE_URL]
# The built-in HTTP connector: https only, public addresses only (True lifts both: tests, local APIs);
# optional host allowlist (empty = any public host the connection's owner names).
INTEGRATIONS_ALLOW_PRIVATE_URLS = env.bool("INTEGRATIONS_ALLOW_PRIVATE_URLS", default=False)
INTEGRATIONS_HTTP_ALLOWED_HOSTS = [h for h in env.list("INTEGRATIONS_HTTP_ALLOWED_HOSTS", default=[]) if h]
INTEGRATIONS_HTTP_TIMEOUT_SECONDS = env.float("INTEGRATIONS_HTTP_TIMEOUT_SECONDS", default=15.0)
INTEGRATIONS_APPROVAL_HOURS = 24
INTEGRATIONS_CONNECT_MINUTES = 15
INTEGRATIONS_EXECUTING_STALE_MINUTES = env.int("INTEGRATIONS_EXECUTING_STALE_MINUTES", default=10)
INTEGRATIONS_MAX_RESULT_BYTES = 64 * 1024
INTEGRATIONS_LOG_RETENTION_DAYS = 90

# --- billing (Stripe) ----------------------------------------------------------
# Secret API key (sk_…) and webhook signing secret (whsec_…); empty = Stripe calls refused (409).
STRIPE_API_KEY = env.str("STRIPE_API_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# API base for the SDK (a local stub in tests; empty = Stripe's own https://api.stripe.com).
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
# Billing meter event name for AI overage (value in cents).
STRIPE_METER_EVENT_NAME = env.str("STRIPE_METER_EVENT_NAME", default="ai_overage")
BILLING_CURRENCY = env.str("BILLING_CURRENCY", default="usd")
# Monthly platform-key AI allowance of the free plan when its BillingPlan row is missing (micro-USD).
BILLING_FREE_AI_ALLOWANCE_MICROS = env.int("BILLING_FREE_AI_ALLOWANCE_MICROS", default=1_000_000)
# Credit top-up bounds (cents).
BILLING_CREDIT_TOPUP_MIN_MINOR = env.int("BILLING_CREDIT_TOPUP_MIN_MINOR", default=500)
BILLING_CREDIT_TOPUP_MAX_MINOR = env.int("BILLING_CREDIT_TOPUP_MAX_MINOR", default=1_000_000)
# Where Checkout, the Portal and Connect onboarding send the user back.
BILLING_CHECKOUT_SUCCESS_URL = (
    env.str("BILLING_CHECKOUT_SUCCESS_URL", default="") or f"{SITE_URL}/billing/success"
)
BILLING_CHECKOUT_CANCEL_URL = (
    env.str("BILLING_CHECKOUT_CANCEL_URL", default="") or f"{SITE_URL}/billing/cancel"
)
BILLING_PORTAL_RETURN_URL = env.str("BILLING_PORTAL_RETURN_URL", default="") or f"{SITE_URL}/billing"
BILLING_CONNECT_RETURN_URL = (
    env.str("BILLING_CONNECT_RETURN_URL", default="") or f"{SITE_URL}/billing/connect/done"
)
BILLING_CONNECT_REFRESH_URL = (
    env.str("BILLING_CONNECT_REFRESH_URL", default="") or f"{SITE_URL}/billing/connect/refresh"
)
# Celery retries of one Stripe event before it is marked failed (staff may reprocess).
STRIPE_EVENT_MAX_ATTEMPTS = env.int("STRIPE_EVENT_MAX_ATTEMPTS", default=5)

# --- inbox / notifications ----------------------------------------------------
# Web Push (VAPID): the private key (base64url raw 32 bytes, or PEM) and the contact claim;
# the public key browsers subscribe with is derived from it unless VAPID_PUBLIC_KEY is set.
VAPID_PRIVATE_KEY = env.str("VAPID_PRIVATE_KEY", default="")
VAPID_PUBLIC_KEY = env.str("VAPID_PUBLIC_KEY", default="")
VAPID_SUBJECT = env.str("VAPID_SUBJECT", default="mailto:admin@colony.local")
PUSH_TTL_SECONDS = env.int("PUSH_TTL_SECONDS", default=86400)
PUSH_TIMEOUT_SECONDS = env.float("PUSH_TIMEOUT_SECONDS", default=10.0)
# True accepts http and private/loopback push endpoints (tests and local push services only).
PUSH_ALLOW_PRIVATE_ENDPOINTS = env.bool("PUSH_ALLOW_PRIVATE_ENDPOINTS", default=False)
PUSH_TOKEN_MAX_FAILURES = env.int("PUSH_TOKEN_MAX_FAILURES", default=5)
# FCM HTTP v1: the service account (its JSON text or a path to the file; the project id defaults to
# the account's) and the endpoints (FCM_TOKEN_URL empty = the account's token_uri).
FCM_SERVICE_ACCOUNT = env.str("FCM_SERVICE_ACCOUNT", default="")
FCM_PROJECT_ID = env.str("FCM_PROJECT_ID", default="")
FCM_BASE_URL = env.str("FCM_BASE_URL", default="https://fcm.googleapis.com")
FCM_TOKEN_URL = env.str("FCM_TOKEN_URL", default="")
# APNs provider token: the .p8 signing key (PEM text or a path), its key id, the team id, the app's
# bundle id (apns-topic); sandbox base URL: https://api.sandbox.push.apple.com.
APNS_KEY = env.str("APNS_KEY", default="")
APNS_KEY_ID = env.str("APNS_KEY_ID", default="")
APNS_TEAM_ID = env.str("APNS_TEAM_ID", default="")
APNS_TOPIC = env.str("APNS_TOPIC", default="")
APNS_BASE_URL = env.str("APNS_BASE_URL", default="https://api.push.apple.com")
PUSH_TOKEN_STALE_DAYS = env.int("PUSH_TOKEN_STALE_DAYS", default=270)
NOTIFICATION_RETENTION_DAYS = env.int("NOTIFICATION_RETENTION_DAYS", default=90)
INBOX_ARCHIVED_RETENTION_DAYS = env.int("INBOX_ARCHIVED_RETENTION_DAYS", default=180)
INBOX_READ_RETENTION_DAYS = env.int("INBOX_READ_RETENTION_DAYS", default=365)

# --- sharing ---
# Days a share link's attribution cookie credits a signup (a network's ``attribution_days`` overrides).
SHARE_ATTRIBUTION_DAYS = env.int("SHARE_ATTRIBUTION_DAYS", default=30)
INBOX_MARK_ALL_READ_BATCH = 1000
INBOX_MARK_ALL_READ_BATCHES = 10

# --- i18n -------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- security ---------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SAMESITE = "Lax"

# --- logging ----------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "apps.core.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
    },
}

# The permission chain every API view starts with (views add, never replace).
API_BASE_PERMISSIONS = [
    "apps.core.permissions.NetworkIsActive",
    "apps.accounts.permissions.AccountInGoodStanding",
    "apps.accounts.permissions.TwoFactorEnrolmentPolicy",
    "apps.apikeys.permissions.ApiKeyScope",
    "apps.organizations.policy.OrganizationPolicy",
]

# First-run bootstrap (make run): default network and admin account.
DEFAULT_NETWORK_INVITE_ONLY = env.bool("DEFAULT_NETWORK_INVITE_ONLY", default=False)
COLONY_ADMIN_EMAIL = env.str("COLONY_ADMIN_EMAIL", default="admin@colony.local")
COLONY_ADMIN_PASSWORD = env.str("COLONY_ADMIN_PASSWORD", default="")
