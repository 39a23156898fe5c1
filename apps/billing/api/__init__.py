"""Billing API: ``ai`` (provider configs, usage, models); the Stripe endpoints in their own module."""
