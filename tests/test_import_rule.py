"""Imports point one way: consult, surgery_guidance -> telestration -> media_core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "media_core": (
        "django",
        "channels",
        "rest_framework",
        "consult",
        "surgery_guidance",
        "config",
    ),
    "surgery_guidance/telestration": (
        "django",
        "channels",
        "rest_framework",
        "consult",
        "config",
        "asyncio",
        "aiortc",
    ),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("surgery_guidance.telestration"):
                names.add("surgery_guidance.telestration")
            else:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_upstream(package: str) -> None:
    """No module of the package imports a package above it in the one-way rule."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & set(FORBIDDEN[package]))
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}
