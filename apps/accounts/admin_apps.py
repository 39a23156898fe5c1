"""``django.contrib.admin`` with the Colony site (``apps.accounts.admin_site``); no model imports here."""

from django.contrib.admin.apps import AdminConfig


class ColonyAdminConfig(AdminConfig):
    default_site = "apps.accounts.admin_site.ColonyAdminSite"
