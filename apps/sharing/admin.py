from django.contrib import admin

from .models import Share


@admin.register(Share)
class ShareAdmin(admin.ModelAdmin):
    list_display = (
        "code", "target_type", "target_id", "channel", "sharer", "click_count", "unique_visitor_count",
        "signup_count", "last_clicked_at", "network",
    )  # fmt: skip
    list_filter = ("network", "target_type", "channel")
    list_select_related = ("sharer", "network")
    search_fields = ("code", "target_id")
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
