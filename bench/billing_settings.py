"""Billing webhook bench settings: bench.settings plus a bare signature-only Stripe view."""

from bench.settings import *  # noqa: F403

ROOT_URLCONF = "bench.billing_urls"
