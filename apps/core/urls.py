from rest_framework.routers import SimpleRouter

from .upload_api import UploadViewSet

router = SimpleRouter(trailing_slash=True)
router.register("uploads", UploadViewSet, basename="upload")

urlpatterns = router.urls
