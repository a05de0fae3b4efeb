"""Architectural rules, checked like any other behaviour."""

from __future__ import annotations

import ast
from pathlib import Path

import supportbot.bot

FORBIDDEN = {"slack_bolt", "slack_sdk", "discord", "httpx", "sqlmodel", "sqlalchemy", "aiohttp", "adapters", "storage"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_a_platform_library_or_an_adapter():
    root = Path(supportbot.bot.__file__).parent
    offenders = {
        str(path.relative_to(root.parent)): sorted(imported_modules(path) & FORBIDDEN)
        for path in root.rglob("*.py")
        if imported_modules(path) & FORBIDDEN
    }
    assert offenders == {}, f"bot/ must only know its ports: {offenders}"


def test_the_rule_catches_a_violation(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom slack_bolt.async_app import AsyncApp\nimport discord.ext\n")
    assert imported_modules(sample) & FORBIDDEN == {"slack_bolt", "discord"}


def test_every_package_folder_installs_under_the_supportbot_namespace():
    import tomllib

    repo = Path(__file__).resolve().parent.parent
    config = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert config["package-dir"] == {f"supportbot.{top}": top for top in ("bot", "adapters", "storage")}
    on_disk = {
        "supportbot." + ".".join(init.parent.relative_to(repo).parts)
        for top in ("bot", "adapters", "storage")
        for init in (repo / top).rglob("__init__.py")
    }
    assert set(config["packages"]) == on_disk
