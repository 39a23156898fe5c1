from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("roadmap-tasks", api.RoadmapTaskViewSet, basename="roadmap-task")
router.register("outcome-checks", api.OutcomeCheckViewSet, basename="outcome-check")
router.register("task-claims", api.TaskClaimViewSet, basename="task-claim")
router.register("task-outcomes", api.TaskOutcomeViewSet, basename="task-outcome")
router.register("verification-runs", api.VerificationRunViewSet, basename="verification-run")
router.register("roadmap-challenges", api.RoadmapChallengeViewSet, basename="roadmap-challenge")

_nested = {"get": "list", "post": "create"}

urlpatterns = [
    path("projects/<uuid:project_pk>/roadmap-tasks/", api.ProjectRoadmapTaskViewSet.as_view(_nested),
         name="project-roadmap-tasks"),
    path("projects/<uuid:project_pk>/roadmap-tasks/claim-next/",
         api.ProjectClaimNextViewSet.as_view({"post": "create"}), name="project-claim-next"),
    path("projects/<uuid:project_pk>/dispatcher/",
         api.ProjectDispatcherViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
         name="project-dispatcher"),
    path("projects/<uuid:project_pk>/dispatcher/kick/", api.ProjectDispatcherViewSet.as_view({"post": "kick"}),
         name="project-dispatcher-kick"),
    path("projects/<uuid:project_pk>/dispatcher/signals/", api.ProjectSignalViewSet.as_view({"get": "list"}),
         name="project-dispatcher-signals"),
    path("roadmap-tasks/<uuid:task_pk>/dependencies/", api.TaskDependencyViewSet.as_view(_nested),
         name="roadmap-task-dependencies"),
    path("roadmap-tasks/<uuid:task_pk>/dependencies/<uuid:dep_id>/",
         api.TaskDependencyViewSet.as_view({"delete": "destroy"}), name="roadmap-task-dependency"),
    path("roadmap-tasks/<uuid:task_pk>/checks/", api.TaskCheckViewSet.as_view(_nested), name="roadmap-task-checks"),
    path("roadmap-tasks/<uuid:task_pk>/claims/", api.TaskClaimCreateViewSet.as_view({"post": "create"}),
         name="roadmap-task-claims"),
    path("task-claims/<uuid:claim_pk>/outcomes/", api.ClaimOutcomeViewSet.as_view({"post": "create"}),
         name="task-claim-outcomes"),
    path("task-outcomes/<uuid:outcome_pk>/challenges/", api.OutcomeChallengeViewSet.as_view({"post": "create"}),
         name="task-outcome-challenges"),
    *router.urls,
]  # fmt: skip
