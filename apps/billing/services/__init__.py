"""Billing services: ``ai`` (provider configs, metered LLM calls, budgets, roll-up); Stripe in its own modules."""
