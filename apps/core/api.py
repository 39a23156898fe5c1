"""The API's tenancy base: every viewset inherits ``NetworkScopedViewSet``.

* ``request.network`` is resolved after DRF authentication (API key → its
  network, user → home network, anonymous → host or default). An unresolved
  network fails closed.
* Querysets are filtered by the request's network in ``get_queryset``, which
  subclasses may not override; they refine with ``scope_queryset(qs)``.
* The permission chain is the base chain (``settings.API_BASE_PERMISSIONS``)
  plus the view's own ``permission_classes``: subclasses add, never replace.
* Client-sent foreign keys go through ``NetworkScopedRelatedField``: another
  network's id reads exactly like a missing one.
* Rows owned by or reached through an organization declare it with
  ``organization_field`` (on the model, or on the viewset) and, on nested
  routes, ``organization_url_kwarg``; the organization's security policy is
  then enforced by the base chain and the base queryset
  (``apps/organizations/policy.py``).
"""

from __future__ import annotations

import keyword
from functools import cache, lru_cache
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models.query import ModelIterable, NamedValuesListIterable
from django.utils import timezone
from django.utils.module_loading import import_string
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.networks.models import Network

from .db import iso_text_timestamps
from .exceptions import NotFound
from .tenancy import resolve_network

_FORBIDDEN_OVERRIDES = ("get_queryset", "get_permissions", "initial", "perform_authentication")


@lru_cache(maxsize=1)
def base_permission_classes() -> tuple[type[permissions.BasePermission], ...]:
    return tuple(import_string(path) for path in settings.API_BASE_PERMISSIONS)


class NetworkContextMixin:
    """Resolves ``request.network`` once the principal is known."""

    #: anonymous callers allowed (the base chain still applies)
    allow_anonymous: ClassVar[bool] = False
    #: permissions this view ADDS to the base chain (DRF's default is not used)
    permission_classes: ClassVar[tuple] = ()
    #: skip the 2FA-enrolment policy (2FA enrolment, logout, me)
    mfa_exempt: ClassVar[bool] = False
    #: API keys may not call this view at all (key management, 2FA, deletion…)
    api_key_forbidden: ClassVar[bool] = False
    #: API key scope resource (``<resource>:read|write``); None = no key access
    scope_resource: ClassVar[str | None] = None
    #: explicit action/method → scope overrides (``{"deploy": "projects:deploy"}``);
    #: a ``None`` value refuses API keys for that action
    scope_map: ClassVar[dict[str, str | None]] = {}

    def perform_authentication(self, request: Request) -> None:
        user = request.user  # runs the authenticators
        network = resolve_network(request, user=user, auth=request.auth)
        request.network = network
        request._request.network = network

    def get_permissions(self) -> list[permissions.BasePermission]:
        chain = list(base_permission_classes())
        if not self.allow_anonymous:
            chain.insert(0, permissions.IsAuthenticated)
        chain.extend(self.permission_classes)
        return [permission() for permission in chain]

    @property
    def network(self) -> Network:
        network = getattr(self.request, "network", None)
        if network is None:
            raise NotFound()
        return network

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()  # type: ignore[misc]
        context["network"] = getattr(self.request, "network", None)
        return context


class NetworkScopedViewSet(NetworkContextMixin, viewsets.GenericViewSet):
    # First base of every viewset over tenant rows. (A comment, not a docstring:
    # drf-spectacular would show a base class docstring as the description of
    # every operation whose viewset has none.)

    #: path from the model to its network, for models reached through a parent
    network_field: ClassVar[str] = "network"
    #: path from the model to the Organization owning the row ("owner_organization",
    #: "project__owner_organization"; "pk" for organizations). None = the model's own
    #: ``organization_field``. Its security policy then applies (apps/organizations/policy.py).
    organization_field: ClassVar[str | None] = None
    #: nested routes: the URL kwarg holding the pk of the first object on organization_field
    organization_url_kwarg: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _FORBIDDEN_OVERRIDES:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__qualname__} overrides {name}(); implement scope_queryset() "
                    "or add permission_classes instead (tenancy lives in NetworkScopedViewSet)"
                )

    def base_queryset(self) -> models.QuerySet:
        if self.queryset is not None:
            return self.queryset.all()
        model = getattr(self, "model", None)
        if model is None:
            raise TypeError(f"{type(self).__qualname__} needs queryset or model")
        return model._default_manager.all()

    def get_queryset(self) -> models.QuerySet:
        network = getattr(self.request, "network", None)
        qs = self.base_queryset()
        if network is None:  # fail closed
            return qs.none()
        qs = qs.filter(**{self.network_field: network})
        from apps.organizations.policy import restrict_queryset, view_organization_field

        qs = restrict_queryset(self.request, qs, view_organization_field(self))
        return self.scope_queryset(qs)

    def scope_queryset(self, qs: models.QuerySet) -> models.QuerySet:
        """Refine the network-filtered queryset (visibility, select_related)."""
        return qs

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.save(network=self.network)


class _Unscoped(NetworkContextMixin):
    # Views that are not a tenant-row collection state why in ``unscoped_reason``.
    # (Comments, not docstrings, on these bases: drf-spectacular shows an
    # inherited docstring as the description of every operation whose view has none.)

    unscoped_reason: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.unscoped_reason and cls.__module__ != __name__ and not cls.__name__.startswith("_"):
            raise TypeError(f"{cls.__qualname__} must say why it is unscoped (unscoped_reason)")


class UnscopedAPIView(_Unscoped, APIView):
    # An endpoint that is not a tenant-row collection (me, signup, webhooks).
    pass


class UnscopedViewSet(_Unscoped, viewsets.GenericViewSet):
    # Rows not tenant-filtered by ``network`` directly, where the queryset is
    # already the caller's own rows; subclasses implement ``get_queryset``.
    pass


class NetworkScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A client-sent FK that must belong to the request's network.

    Another network's id fails with the same "does not exist" message as a
    missing id. ``scope`` (optional) narrows further with the request, e.g.
    ``scope=lambda qs, request: qs.filter(members__user=request.user)``.
    """

    def __init__(self, *, network_field: str = "network", scope=None, **kwargs: Any) -> None:
        self.network_field = network_field
        self.scope = scope
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        obj = super().to_internal_value(data)
        # a row of an organization whose security policy refuses this request
        from apps.organizations.policy import check_row

        check_row(self.context.get("request"), obj)
        return obj

    def get_queryset(self) -> models.QuerySet:
        qs = super().get_queryset()
        network = self.context.get("network")
        if network is None:
            request = self.context.get("request")
            network = getattr(request, "network", None)
        if network is None:
            return qs.none()
        qs = qs.filter(**{self.network_field: network})
        if self.scope is not None:
            qs = self.scope(qs, self.context.get("request"))
        return qs


def ensure_same_network(network: Network | int | Any, *objects: Any) -> None:
    """Service-side check: every object belongs to ``network`` (else 404)."""
    network_id = getattr(network, "pk", network)
    for obj in objects:
        if obj is None:
            continue
        if getattr(obj, "network_id", None) != network_id:
            raise NotFound()


@cache
def _column_names(model: type[models.Model]) -> frozenset[str]:
    """The names a row of ``model`` may be read by: every column's attname, and a plain field's name."""
    fields = model._meta.concrete_fields
    return frozenset(f.attname for f in fields) | frozenset(f.name for f in fields if not f.is_relation)


def plain_rows(queryset: Any, serializer_class: type, paginator: Any = None) -> Any:
    """``queryset`` as named tuples of the columns ``serializer_class`` reads, when that is all it reads.

    A ``FastReadMixin`` serializer whose every field is a column of the model
    (``row_columns()``) gives the same output for such a row as for the
    model instance, without the instance (its ``__init__``, its unused
    columns). The row also carries the primary key and every column the
    queryset or the paginator orders by (cursor positions are read from the
    page's last row). Anything else — another serializer, a queryset that is
    not a plain model query, an ordering by an expression or a relation —
    is returned unchanged.
    """
    row_columns = getattr(serializer_class, "row_columns", None)
    columns = row_columns() if row_columns is not None else None
    if (
        columns is None
        or not isinstance(queryset, models.QuerySet)
        or queryset._iterable_class is not ModelIterable
        or queryset.query.combinator
        or queryset.query.distinct_fields
    ):
        return queryset
    meta = queryset.model._meta
    concrete = _column_names(queryset.model)
    ordering = getattr(paginator, "ordering", None) or ()
    ordering = (ordering,) if isinstance(ordering, str) else tuple(ordering)
    names = [meta.pk.attname, *columns]
    for order in (*queryset.query.order_by, *ordering, *(meta.ordering or ())):
        if not isinstance(order, str):
            return queryset
        name = order.lstrip("-")
        names.append(meta.pk.attname if name == "pk" else name)
    names = list(dict.fromkeys(names))
    if any(name not in concrete or keyword.iskeyword(name) or name.startswith("_") for name in names):
        return queryset
    rows = queryset.values_list(*names, named=True)
    in_utc = settings.USE_TZ and timezone.get_current_timezone_name() == "UTC"
    if in_utc and serializer_class.datetimes_in_current_zone():
        rows._iterable_class = _IsoTimestampRows  # time stamps arrive as the text the API prints
    return rows


class _IsoTimestampRows(NamedValuesListIterable):
    """Named rows whose ``timestamptz`` columns are already the API's ISO text (``apps.core.db``)."""

    def __iter__(self) -> Any:
        with iso_text_timestamps(self.queryset.db):
            yield from super().__iter__()


class ListModelMixin(mixins.ListModelMixin):
    """DRF's ``list``, reading a page as plain rows where the serializer reads only columns (``plain_rows``)."""

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = plain_rows(
            self.filter_queryset(self.get_queryset()), self.get_serializer_class(), self.paginator
        )
        page = self.paginate_queryset(queryset)
        if page is not None:
            return self.get_paginated_response(self.get_serializer(page, many=True).data)
        return Response(self.get_serializer(queryset, many=True).data)
