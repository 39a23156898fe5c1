from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("agents", api.AgentViewSet, basename="agent")
router.register("agent-project-access", api.AgentProjectAccessViewSet, basename="agent-project-access")
router.register("agent-memory-facts", api.AgentMemoryFactViewSet, basename="agent-memory-fact")
router.register("agent-scheduled-tasks", api.AgentScheduledTaskViewSet, basename="agent-scheduled-task")

_list = {"get": "list"}
_list_create = {"get": "list", "post": "create"}

urlpatterns = [
    path(
        "agents/<uuid:agent_pk>/project-access/",
        api.AgentProjectAccessListViewSet.as_view(_list_create),
        name="agent-access-list",
    ),
    path(
        "agents/<uuid:agent_pk>/memory-facts/",
        api.AgentMemoryFactListViewSet.as_view(_list_create),
        name="agent-memory-facts",
    ),
    path(
        "agents/<uuid:agent_pk>/decisions/",
        api.AgentDecisionListViewSet.as_view(_list),
        name="agent-decisions",
    ),
    path(
        "agents/<uuid:agent_pk>/change-log/",
        api.AgentChangeLogListViewSet.as_view(_list),
        name="agent-change-log",
    ),
    path(
        "agents/<uuid:agent_pk>/conversation-summaries/",
        api.AgentConversationSummaryListViewSet.as_view(_list),
        name="agent-conversation-summaries",
    ),
    path(
        "agents/<uuid:agent_pk>/guard-logs/",
        api.PromptGuardLogListViewSet.as_view(_list),
        name="agent-guard-logs",
    ),
    path("agents/<uuid:agent_pk>/runs/", api.AgentRunListViewSet.as_view(_list_create), name="agent-runs"),
    path(
        "agents/<uuid:agent_pk>/scheduled-tasks/",
        api.AgentScheduledTaskListViewSet.as_view(_list_create),
        name="agent-scheduled-tasks",
    ),
    *router.urls,
]
