"""Serializers for hot paths: fields built once per class, not once per instance.

DRF builds a serializer's fields on first use of every *instance*: a
``ModelSerializer`` introspects the model, maps each column to a field class
and instantiates it (error messages, validators, lazy translations) — about
a millisecond for a dozen fields, on every request. ``FieldsOnceMixin``
builds them once per class and gives each instance copies:

* every field is a shallow copy (its ``bind`` then sets name, parent and
  source on the copy only; validators and error messages are shared,
  read-only);
* fields that hold other fields — nested serializers, ``ListSerializer`` /
  ``ListField`` / ``DictField`` children, ``many=True`` relations — get
  copies of their children bound to the copy (a nested serializer rebuilds
  its own field set), so every field of this instance sees its context
  (request, network).

Use it first in the bases: ``class MeSerializer(FieldsOnceMixin, ModelSerializer)``.
A serializer whose ``get_fields`` depends on the instance (context,
request, ``self.instance``) must not use it.
"""

from __future__ import annotations

import datetime
import threading
from typing import Any, ClassVar

from django.core.exceptions import FieldDoesNotExist
from rest_framework import ISO_8601, serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

_lock = threading.Lock()


def _copy_field(field: serializers.Field) -> serializers.Field:
    """A copy to bind to a new parent: shallow, with fresh copies of any child fields."""
    clone = object.__new__(type(field))  # copy.copy without its __reduce_ex__ round trip
    clone.__dict__.update(field.__dict__)
    clone.__dict__.pop("fields", None)  # a nested serializer's field set is rebuilt for the copy
    for attr in ("child", "child_relation"):  # ListSerializer/ListField/DictField, many=True relations
        child = field.__dict__.get(attr)
        if child is not None:
            child = _copy_field(child)
            child.parent = clone  # bound as its parent's child already; only the parent is new
            clone.__dict__[attr] = child
    return clone


class FieldsOnceMixin:
    _fields_template: ClassVar[dict[str, serializers.Field] | None] = None

    def get_fields(self) -> dict[str, serializers.Field]:
        cls = type(self)
        template = cls.__dict__.get("_fields_template")
        if template is None:
            with _lock:
                template = cls.__dict__.get("_fields_template")
                if template is None:
                    template = super().get_fields()  # type: ignore[misc]
                    cls._fields_template = template
        return {name: _copy_field(field) for name, field in template.items()}


# --- the read path -------------------------------------------------------------------

_SKIP = object()


def _generic_step(field: serializers.Field) -> Any:
    """DRF's own per-field read (``Serializer.to_representation``'s loop body)."""

    def step(instance: Any) -> Any:
        try:
            attribute = field.get_attribute(instance)
        except SkipField:
            return _SKIP
        check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
        return None if check_for_none is None else field.to_representation(attribute)

    return step


def _datetime_format(field: serializers.DateTimeField) -> Any:
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if output_format is None or output_format.lower() != ISO_8601:
        return None
    tz = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if tz is None:
        return None
    slow = field.to_representation

    def fmt(value: Any) -> Any:
        if type(value) is not datetime.datetime or value.utcoffset() is None:
            return slow(value)  # naive, a date or a string: DRF's rules
        text = value.astimezone(tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return fmt


def _formatter(field: serializers.Field) -> Any:
    """How to turn a present, non-None attribute into output, when it is just DRF's rule."""
    cls = type(field)
    rep = cls.to_representation
    if rep is serializers.CharField.to_representation:
        return str
    if rep is serializers.UUIDField.to_representation and field.uuid_format == "hex_verbose":
        return str
    if rep is serializers.IntegerField.to_representation:
        return int
    if rep in (serializers.ReadOnlyField.to_representation, serializers.JSONField.to_representation) and not (
        getattr(field, "binary", False)
    ):
        return lambda value: value
    if rep is serializers.DateTimeField.to_representation:
        return _datetime_format(field)
    if rep in (serializers.ChoiceField.to_representation, serializers.BooleanField.to_representation):
        return field.to_representation
    return None


def _fk_attname(serializer: Any, field: serializers.Field) -> str | None:
    """The FK column of a plain ``PrimaryKeyRelatedField`` (its output is that column's value)."""
    cls = type(field)
    if not (
        isinstance(field, serializers.PrimaryKeyRelatedField)
        and cls.to_representation is serializers.PrimaryKeyRelatedField.to_representation
        and cls.get_attribute is serializers.RelatedField.get_attribute
        and cls.use_pk_only_optimization is serializers.PrimaryKeyRelatedField.use_pk_only_optimization
        and field.pk_field is None
    ):
        return None
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    if model is None or len(field.source_attrs) != 1:
        return None
    try:
        model_field = model._meta.get_field(field.source_attrs[0])
    except FieldDoesNotExist:
        return None
    return model_field.attname if model_field.many_to_one and model_field.concrete else None


def _step(serializer: Any, field: serializers.Field) -> Any:
    generic = _generic_step(field)
    if type(field).get_attribute is not serializers.Field.get_attribute and not isinstance(
        field, serializers.RelatedField
    ):
        return generic
    if len(field.source_attrs) != 1 or not field.source_attrs[0]:
        return generic
    attname = _fk_attname(serializer, field)
    if attname is not None:

        def fk_step(instance: Any) -> Any:
            try:
                return getattr(instance, attname)
            except AttributeError:
                return generic(instance)

        return fk_step
    if isinstance(field, serializers.RelatedField):
        return generic
    fmt = _formatter(field)
    if fmt is None:
        return generic
    attr = field.source_attrs[0]

    def simple_step(instance: Any) -> Any:
        try:
            value = getattr(instance, attr)
        except (AttributeError, KeyError):
            return generic(instance)  # a dict, a default, a skipped field: DRF decides
        if value is None:
            return None
        if callable(value):
            return generic(instance)
        return fmt(value)

    return simple_step


class FastReadMixin(FieldsOnceMixin):
    """``FieldsOnceMixin`` plus a read path planned once per serializer instance.

    ``to_representation`` gives exactly DRF's output, with each field's read
    planned up front: a plain attribute with one of DRF's standard formats
    (text, UUID, integer, ISO date-time, choice, boolean, JSON, a foreign
    key's id) is read with one ``getattr`` and formatted directly; anything
    else (nested serializers, method fields, files, dotted or custom sources,
    dicts, missing attributes) goes through the field's own
    ``get_attribute`` / ``to_representation``. A ``many=True`` list reuses
    one child, so a page of rows is planned once.
    """

    def to_representation(self, instance: Any) -> dict[str, Any]:
        steps = self.__dict__.get("_read_steps")
        if steps is None:
            steps = self.__dict__["_read_steps"] = [
                (field.field_name, _step(self, field)) for field in self._readable_fields
            ]
        ret = {}
        for name, step in steps:
            value = step(instance)
            if value is not _SKIP:
                ret[name] = value
        return ret
