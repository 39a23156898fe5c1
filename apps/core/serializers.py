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

from django.conf import settings
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


def _detached(field: serializers.Field) -> serializers.Field:
    """A copy of a bound field with no parent: kept by a class-wide plan without pinning a request."""
    clone = _copy_field(field)
    clone.__dict__["parent"] = None
    return clone


def _nested_spec(field: FastReadMixin) -> tuple[str, str, Any] | None:
    """A nested planned serializer (one object, one attribute) whose own read is all columns, no date-times.

    Its compiled read runs inline: ``o.<attr>`` then the child's function, as
    DRF reads the attribute and calls the child's ``to_representation``. A
    missing related object (``ObjectDoesNotExist``, an ``AttributeError`` too)
    sends the whole row to DRF's per-field rules, which give ``None``.
    """
    plan = field._class_plan()
    if plan is _NOT_STATIC or plan[1] or plan[2]:  # context-free only: no zones, no per-instance steps
        return None
    return ("nested", field.source_attrs[0], plan[0])


def _static_spec(serializer: Any, field: serializers.Field) -> tuple[str, str, Any] | None:
    """``(kind, attribute, formatter)`` when the field's read depends on nothing but the row.

    A concrete column of ``Meta.model`` read with one of DRF's standard,
    context-free formats qualifies, and so does a nested planned serializer
    of such columns (``_nested_spec``); anything else is planned per instance.
    """
    attname = _fk_attname(serializer, field)
    if attname is not None:
        return ("value", attname, None)
    if (
        isinstance(field, serializers.RelatedField)
        or type(field).get_attribute is not serializers.Field.get_attribute
    ):
        return None
    if len(field.source_attrs) != 1 or not field.source_attrs[0].isidentifier():
        return None
    if isinstance(field, FastReadMixin):
        return _nested_spec(field)
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    try:
        model_field = model._meta.get_field(field.source_attrs[0]) if model is not None else None
    except FieldDoesNotExist:
        return None
    if model_field is None or not model_field.concrete or model_field.is_relation:
        return None
    attr = field.source_attrs[0]
    rep = type(field).to_representation
    if rep is serializers.CharField.to_representation:
        return ("call", attr, str)
    if rep is serializers.UUIDField.to_representation and field.uuid_format == "hex_verbose":
        return ("call", attr, str)
    if rep is serializers.IntegerField.to_representation:
        return ("call", attr, int)
    if rep in (serializers.ReadOnlyField.to_representation, serializers.JSONField.to_representation) and not (
        getattr(field, "binary", False)
    ):
        return ("value", attr, None)
    if rep is serializers.DateTimeField.to_representation:
        output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
        if output_format is None or output_format.lower() != ISO_8601 or not settings.USE_TZ:
            return None
        return ("datetime", attr, _detached(field))
    if rep in (serializers.ChoiceField.to_representation, serializers.BooleanField.to_representation):
        return ("call", attr, _detached(field).to_representation)
    return None


def _iso(value: Any, tz: Any, field: serializers.DateTimeField) -> Any:
    if type(value) is str:  # already the API's text (``apps.core.db.IsoTimestamptzLoader``)
        return value
    if type(value) is not datetime.datetime or value.utcoffset() is None:
        return field.to_representation(value)  # naive, a date or a string: DRF's rules
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_NOT_STATIC = object()


def _compile(specs: list[tuple[str, str, str, Any]]) -> tuple[Any, tuple[Any, ...], tuple[str, ...]]:
    """One function building the whole dict: ``rep(instance, zones, dynamic) -> dict``.

    Generated once per serializer class from its field specs, so a row costs
    one attribute read and one format per column field and no per-field call
    through a loop. ``zones`` holds each date-time field's zone and
    ``dynamic`` the per-instance steps of the other fields (nested
    serializers, method fields…), both resolved per serializer instance
    (``timezone.override`` and the context are honoured).
    """
    env: dict[str, Any] = {"_iso": _iso}
    items = []
    datetime_fields: list[Any] = []
    dynamic: list[str] = []
    for i, (name, kind, attr, fmt) in enumerate(specs):
        if kind == "dynamic":
            expr = f"d[{len(dynamic)}](o)"
            dynamic.append(name)
        elif kind == "value":
            expr = f"o.{attr}"
        elif kind == "nested":
            env[f"f{i}"] = fmt
            expr = f"(None if (v{i} := o.{attr}) is None else f{i}(v{i}, (), ()))"
        elif kind == "call":
            env[f"f{i}"] = fmt
            expr = f"(None if (v{i} := o.{attr}) is None else f{i}(v{i}))"
        else:
            env[f"f{i}"] = fmt
            expr = f"(None if (v{i} := o.{attr}) is None else _iso(v{i}, tz[{len(datetime_fields)}], f{i}))"
            datetime_fields.append(fmt)
        items.append(f"{name!r}: {expr}")
    source = "def rep(o, tz, d):\n    return {" + ", ".join(items) + "}\n"
    exec(compile(source, "<FastReadMixin plan>", "exec"), env)  # noqa: S102 — our own field names, checked identifiers
    return env["rep"], tuple(datetime_fields), tuple(dynamic)


class FastReadMixin(FieldsOnceMixin):
    """``FieldsOnceMixin`` plus a read path planned once per serializer class.

    ``to_representation`` gives exactly DRF's output. The class gets one
    generated function that builds the dict directly: a concrete column of
    ``Meta.model`` with one of DRF's standard, context-free formats (text,
    UUID, integer, ISO date-time, choice, boolean, JSON, a foreign key's id)
    is one attribute read and one format; every other field (nested
    serializers, method fields, files, dotted or custom sources) is a step
    planned per serializer instance with that instance's bound field, as DRF
    reads it. A serializer instance resolves only the current time zone and
    those steps; a row that is not a model instance (a dict, a stand-in)
    falls back to per-field DRF rules. A ``many=True`` list reuses one
    child, so a page of rows is planned once.
    """

    def _read_steps(self) -> list[tuple[str, Any]]:
        steps = self.__dict__.get("_steps")
        if steps is None:
            steps = self.__dict__["_steps"] = [
                (field.field_name, _step(self, field)) for field in self._readable_fields
            ]
        return steps

    def _loop(self, instance: Any) -> dict[str, Any]:
        ret = {}
        for name, step in self._read_steps():
            value = step(instance)
            if value is not _SKIP:
                ret[name] = value
        return ret

    def _class_plan(self) -> Any:
        cls = type(self)
        plan = cls.__dict__.get("_compiled_read")
        if plan is None:
            specs = []
            for field in self._readable_fields:
                spec = _static_spec(self, field) if field.field_name.isidentifier() else None
                specs.append((field.field_name, *(spec or ("dynamic", "", None))))
            plan = _compile(specs) if any(spec[1] != "dynamic" for spec in specs) else _NOT_STATIC
            # a page of rows may be read as plain tuples only when every field is a column
            cls._row_columns = (
                tuple(dict.fromkeys(spec[2] for spec in specs))
                if specs and all(spec[1] in ("value", "call", "datetime") for spec in specs)
                else None
            )
            cls._compiled_read = plan
        return plan

    @classmethod
    def row_columns(cls) -> tuple[str, ...] | None:
        """The columns this serializer's output is made of, when it reads nothing else (else None).

        Then a row with those attributes (``values_list(named=True)``) gives
        exactly the output of its model instance, so a list need not build
        model instances (``apps.core.api.ListModelMixin``).
        """
        if getattr(getattr(cls, "Meta", None), "list_serializer_class", None) is not None:
            return None  # a list serializer of its own may read more than the rows
        if "_row_columns" not in cls.__dict__:
            cls()._class_plan()
        return cls.__dict__["_row_columns"]

    @classmethod
    def datetimes_in_current_zone(cls) -> bool:
        """Every date-time field prints in the current time zone (none was given a zone of its own)."""
        if cls.row_columns() is None:
            return False
        plan = cls.__dict__["_compiled_read"]
        return plan is not _NOT_STATIC and all(not hasattr(field, "timezone") for field in plan[1])

    def _dynamic_fields(self, names: tuple[str, ...]) -> dict[str, serializers.Field]:
        """The bound fields the plan reads per instance — only those, when the field set is not built yet.

        ``self.fields`` copies and binds every field; a read needs just the
        ones the plan could not compile (a nested serializer, a method
        field), bound exactly as ``BindingDict`` binds them.
        """
        if "fields" in self.__dict__:
            return self.fields
        template = type(self).__dict__.get("_fields_template")
        if template is None:
            return self.fields
        bound = {}
        for name in names:
            field = _copy_field(template[name])
            field.bind(field_name=name, parent=self)
            bound[name] = field
        return bound

    def to_representation(self, instance: Any) -> dict[str, Any]:
        run = self.__dict__.get("_run")
        if run is None:
            plan = self._class_plan()
            if plan is _NOT_STATIC:
                run = self._loop
            else:
                rep, datetime_fields, dynamic = plan
                zones = tuple(getattr(f, "timezone", None) or f.default_timezone() for f in datetime_fields)
                loop = self._loop
                if dynamic:
                    fields = self._dynamic_fields(dynamic)
                    steps = tuple(_step(self, fields[name]) for name in dynamic)

                    def run(instance: Any) -> dict[str, Any]:
                        try:
                            ret = rep(instance, zones, steps)
                        except AttributeError:  # not a model row (a dict, a stand-in): DRF's rules per field
                            return loop(instance)
                        for name in dynamic:
                            if ret[name] is _SKIP:
                                del ret[name]
                        return ret
                else:

                    def run(instance: Any) -> dict[str, Any]:
                        try:
                            return rep(instance, zones, ())
                        except AttributeError:  # not a model row (a dict, a stand-in): DRF's rules per field
                            return loop(instance)

            self.__dict__["_run"] = run
        return run(instance)
