import pytest


@pytest.fixture
def media_root(settings, tmp_path):
    """Export files of this test go to a private directory."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"
