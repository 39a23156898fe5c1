"""Social benchmark settings: the bench settings plus the bare one-query views of bench/social_urls.py."""

from bench.settings import *  # noqa: F403

ROOT_URLCONF = "bench.social_urls"
