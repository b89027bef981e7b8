"""Generate the embedded demo's secrets into an ignored local file on first run."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def ensure_local_secrets(path: Path) -> Path:
    """Create ``path`` with fresh random secrets unless it exists; return it."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}",
        f"PHI_KEYS=demo1:{_key()}",
        f"PHI_BLIND_INDEX_KEY={_key()}",
        f"AUDIT_CHAIN_KEY={_key()}",
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path
