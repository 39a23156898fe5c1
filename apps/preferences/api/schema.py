"""Choice fields that publish a named enum component.

drf-spectacular names enums after the property; several unrelated ``status``
choice sets across apps would collide (a warning, and CI fails on warnings).
These fields register ``<enum_name>`` themselves and reference it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers


class NamedChoiceField(serializers.ChoiceField):
    def __init__(self, *, enum_name: str, **kwargs: Any) -> None:
        self.enum_name = enum_name
        super().__init__(**kwargs)


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = NamedChoiceField
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        field: NamedChoiceField = self.target
        component = ResolvedComponent(
            name=field.enum_name,
            type=ResolvedComponent.SCHEMA,
            object=field.enum_name,
            schema={"type": "string", "enum": [str(value) for value in field.choices]},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref
