from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("project-decisions", api.ProjectDecisionViewSet, basename="project-decision")
router.register("project-milestones", api.ProjectMilestoneViewSet, basename="project-milestone")

_nested = {"get": "list", "post": "create"}

urlpatterns = [
    path(
        "projects/<uuid:project_pk>/decisions/",
        api.ProjectDecisionListViewSet.as_view(_nested),
        name="project-decisions",
    ),
    path(
        "projects/<uuid:project_pk>/milestones/",
        api.ProjectMilestoneListViewSet.as_view(_nested),
        name="project-milestones",
    ),
    *router.urls,
]
