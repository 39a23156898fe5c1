from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("integrations", api.UserIntegrationViewSet, basename="integration")
router.register("pending-integrations", api.PendingIntegrationViewSet, basename="pending-integration")
router.register("agent-integrations", api.AgentIntegrationViewSet, basename="agent-integration")
router.register("pending-tool-executions", api.PendingToolExecutionViewSet, basename="pending-tool-execution")
router.register("tool-execution-logs", api.ToolExecutionLogViewSet, basename="tool-execution-log")

urlpatterns = [
    # before the router: "toolkits" and "callback" are not connection ids
    path("integrations/toolkits/", api.ToolkitListView.as_view(), name="integration-toolkits"),
    path("integrations/callback/", api.IntegrationCallbackView.as_view(), name="integration-callback"),
    path(
        "agents/<uuid:agent_pk>/integrations/",
        api.AgentIntegrationListViewSet.as_view({"get": "list", "post": "create"}),
        name="agent-integrations",
    ),
    path(
        "agents/<uuid:agent_pk>/tool-executions/",
        api.AgentToolExecutionViewSet.as_view({"get": "list", "post": "create"}),
        name="agent-tool-executions",
    ),
    re_path(r"^webhooks/composio/?$", api.ComposioWebhookView.as_view(), name="webhook-composio"),
    *router.urls,
]
