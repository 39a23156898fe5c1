"""Test settings: real PostgreSQL and Redis, fast hashing, eager Celery by default.

Each pytest-xdist worker gets its own Redis database (from
``PYTEST_XDIST_WORKER``), so workers never share keys.
"""

from .base import *  # noqa: F403
from .base import REDIS_URL, channel_layer_host, env

DEBUG = False
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http"


def _redis_url_for_db(url: str, db: int) -> str:
    base, _, tail = url.rpartition("/")
    if base.startswith("redis") and tail.isdigit():
        return f"{base}/{db}"
    return f"{url.rstrip('/')}/{db}"


# gw0 → db 1, gw1 → db 2, … (db 0 is left to `make run`)
_worker = env.str("PYTEST_XDIST_WORKER", default="gw0").removeprefix("gw")
REDIS_DB = env.int(
    "REDIS_DB", default=env.int("REDIS_DB_BASE", default=1) + (int(_worker) if _worker.isdigit() else 0)
)
REDIS_URL = _redis_url_for_db(REDIS_URL, REDIS_DB)
# and its own key names: Redis's invalidation pushes (apps.core.nearcache) match key names in
# every database, so one worker's writes would otherwise drop another's near copies
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default=f"colony{REDIS_DB}")
CACHES["default"]["KEY_PREFIX"] = REDIS_KEY_PREFIX  # noqa: F405
CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [channel_layer_host(REDIS_URL)]  # noqa: F405
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "test-media"))  # noqa: F405
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True  # static files (API docs assets) without collectstatic

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405

# Threads of the live ASGI server and channels' executor open their own
# connections; close them after each use so parallel runs stay far below
# PostgreSQL's max_connections.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
