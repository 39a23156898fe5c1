"""Headless (app and browser) endpoints added next to allauth's own."""

urlpatterns: list = []
