"""Start-up refuses missing, malformed or unsafe configuration, naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VALID_KEY = "1:" + "A" * 43 + "="


def _boot(module: str, **overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in overrides}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": module,
            "DATABASE_URL": "postgres://u@127.0.0.1/x",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "SECRET_KEY": "s" * 50,
            "FIELD_ENCRYPTION_KEYS": VALID_KEY,
            "API_KEY_PEPPER": "pepper",
            "ALLOWED_HOSTS": "example.com",
            "DJANGO_READ_DOT_ENV_FILE": "False",
        }
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    code = "import django; django.setup(); print('booted')"
    # cwd without a .env so only the given environment counts
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "FIELD_ENCRYPTION_KEYS", "API_KEY_PEPPER"]
)
def test_missing_required_variable_is_named(name):
    result = _boot("config.settings.production", **{name: None})
    assert result.returncode != 0
    assert name in result.stderr


def test_malformed_encryption_keys_are_named():
    result = _boot("config.settings.production", FIELD_ENCRYPTION_KEYS="not-a-key")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS is malformed" in result.stderr


def test_short_encryption_key_is_refused():
    result = _boot("config.settings.production", FIELD_ENCRYPTION_KEYS="1:c2hvcnQ=")
    assert "must decode to 32 bytes" in result.stderr


def test_production_refuses_debug():
    result = _boot("config.settings.production", DEBUG="True")
    assert result.returncode != 0
    assert "DEBUG must be False" in result.stderr


def test_production_refuses_default_secret_key():
    result = _boot("config.settings.production", SECRET_KEY="change-me")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_empty_allowed_hosts():
    result = _boot("config.settings.production", ALLOWED_HOSTS="")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_boots_with_valid_configuration():
    result = _boot("config.settings.production")
    assert result.returncode == 0, result.stderr
    assert "booted" in result.stdout
