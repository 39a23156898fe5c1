from rest_framework import serializers, viewsets

from apps.core.api import NetworkScopedRelatedField, NetworkScopedViewSet

from .models import Widget


class WidgetSerializer(serializers.ModelSerializer):
    parent = NetworkScopedRelatedField(queryset=Widget.objects.all(), required=False, allow_null=True)
    secret = serializers.CharField(write_only=True, required=False)

    class Meta:
        model = Widget
        fields = ("id", "name", "parent", "secret", "secret_hint")
        read_only_fields = ("id", "secret_hint")


class WidgetViewSet(NetworkScopedViewSet, viewsets.ModelViewSet):
    queryset = Widget.objects.all()
    serializer_class = WidgetSerializer
