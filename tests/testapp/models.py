"""A scoped model used only by the tests of the tenancy base and encrypted fields."""

from django.db import models

from apps.core.fields import EncryptedHintField, EncryptedTextField
from apps.core.models import NetworkScopedModel


class Widget(NetworkScopedModel):
    name = models.CharField(max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    secret = EncryptedTextField(null=True, blank=True)
    secret_hint = EncryptedHintField(source="secret")

    class Meta:
        ordering = ("-id",)
