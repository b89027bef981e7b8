"""Settings behave as configured: production is strict and refuses to start unset."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _key(seed: int) -> str:
    return base64.b64encode(bytes([seed]) * 32).decode()


PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.prod",
    "DJANGO_SECRET_KEY": "x7!Qp2#Lm9@Vr4$Tz8%Wn3^Yb6&Hc1*Jd5(Kf0)Gs+Ua_Xe=Ri-Oo",
    "DJANGO_ALLOWED_HOSTS": "telemed.example.org",
    "PHI_KEYS": f"p1:{_key(11)}",
    "PHI_BLIND_INDEX_KEY": _key(12),
    "AUDIT_CHAIN_KEY": _key(13),
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DATABASE_URL": "sqlite:////tmp/telemed-prod-check.sqlite3",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PHI_", "AUDIT_", "REDIS_", "DATABASE_"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_pass_the_deploy_checklist() -> None:
    """``check --deploy --fail-level WARNING`` passes with production settings."""
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_secrets() -> None:
    """Without its secrets, production stops at startup and names what is missing."""
    env = {
        k: v for k, v in PROD_ENV.items() if k not in ("PHI_KEYS", "AUDIT_CHAIN_KEY")
    }
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "PHI_KEYS" in result.stderr and "AUDIT_CHAIN_KEY" in result.stderr


def test_production_with_in_memory_layer_fails_the_deploy_check() -> None:
    """consult.E001: production without REDIS_URL is refused by the deploy check."""
    env = {k: v for k, v in PROD_ENV.items() if k != "REDIS_URL"}
    result = _manage("check", "--deploy", env=env)
    assert result.returncode != 0 and "consult.E001" in result.stderr


def test_redis_layer_keeps_idle_sockets(settings) -> None:
    """With REDIS_URL set, the layer's socket_timeout is None (channels_redis #422)."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings as s; import django; django.setup(); "
            "print(s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]['socket_timeout'])",
        ],
        cwd=ROOT,
        env={**os.environ, **PROD_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "None", result.stderr


def test_dev_settings_generate_local_secrets(tmp_path: Path) -> None:
    """The demo creates its secrets once, private to the user, and reuses them."""
    from config.local_secrets import ensure_local_secrets

    path = ensure_local_secrets(tmp_path / "local.env")
    first = path.read_text()
    ensure_local_secrets(path)
    assert (path.read_text(), oct(path.stat().st_mode & 0o777)) == (first, "0o600")
    assert {
        "DJANGO_SECRET_KEY",
        "PHI_KEYS",
        "PHI_BLIND_INDEX_KEY",
        "AUDIT_CHAIN_KEY",
    } == {line.split("=", 1)[0] for line in first.splitlines()}
