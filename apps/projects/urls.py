from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from .api import views, webhooks

router = SimpleRouter(trailing_slash=True)
router.register("projects", views.ProjectViewSet, basename="project")
router.register("sandboxes", views.SandboxViewSet, basename="sandbox")
router.register("deployments", views.DeploymentViewSet, basename="deployment")
router.register("storage-buckets", views.StorageBucketViewSet, basename="storage-bucket")
router.register("databases", views.DatabaseViewSet, basename="database")

_nested = {"get": "list", "post": "create"}

urlpatterns = [
    path(
        "projects/<uuid:project_pk>/sandboxes/",
        views.ProjectSandboxViewSet.as_view(_nested),
        name="project-sandboxes",
    ),
    path(
        "projects/<uuid:project_pk>/deployments/",
        views.ProjectDeploymentViewSet.as_view(_nested),
        name="project-deployments",
    ),
    path(
        "projects/<uuid:project_pk>/storage-buckets/",
        views.ProjectStorageBucketViewSet.as_view(_nested),
        name="project-storage-buckets",
    ),
    path(
        "projects/<uuid:project_pk>/databases/",
        views.ProjectDatabaseViewSet.as_view(_nested),
        name="project-databases",
    ),
    re_path(r"^webhooks/sandbox/?$", webhooks.SandboxWebhookView.as_view(), name="webhook-sandbox"),
    re_path(r"^webhooks/deploy/?$", webhooks.DeployWebhookView.as_view(), name="webhook-deploy"),
    *router.urls,
]
