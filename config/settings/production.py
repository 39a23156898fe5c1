"""Production: refuses unsafe configuration at start-up."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import ALLOWED_HOSTS, DEBUG, SECRET_KEY, env

if DEBUG:
    raise ImproperlyConfigured("DEBUG must be False in production (unset DEBUG or set DEBUG=False)")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the served host names in production")
_WEAK_KEYS = {"", "change-me", "changeme", "dev", "secret", "insecure"}
if SECRET_KEY.lower() in _WEAK_KEYS or SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 40:
    raise ImproperlyConfigured(
        "SECRET_KEY is a default or too short for production (use 50 random characters)"
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="apps.core.email.SESEmailBackend")
