"""The package layout is the architecture: each layer imports only the layers below it.

core (no Dagster, no storage) <- storage (adapters, no Dagster) <- orchestration (the
Dagster face) <- datasets <- definitions <- tools. Checked on the import statements of
every module, so a new shortcut across layers fails here with the line that makes it.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "platform_assets"
DAGSTER = ("dagster", "dagster_aws", "dagster_duckdb", "dagster_webserver")
# layer -> what it must not import (module prefixes)
FORBIDDEN = {
    "core": (
        *DAGSTER,
        "boto3",
        "botocore",
        "deltalake",
        "psycopg",
        "platform_assets.storage",
        "platform_assets.orchestration",
        "platform_assets.datasets",
        "platform_assets.tools",
        "platform_assets.definitions",
    ),
    "storage": (
        *DAGSTER,
        "platform_assets.orchestration",
        "platform_assets.datasets",
        "platform_assets.tools",
        "platform_assets.definitions",
    ),
    "orchestration": (
        "platform_assets.datasets",
        "platform_assets.tools",
        "platform_assets.definitions",
    ),
    "datasets": ("platform_assets.tools", "platform_assets.definitions"),
}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a module, relative imports resolved."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
            if node.module == "platform_assets":
                found += [(node.lineno, f"platform_assets.{a.name}") for a in node.names]
    return found


def _crossings(layer: str) -> list[str]:
    bad = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for line, module in imports(path):
            if any(module == f or module.startswith(f + ".") for f in FORBIDDEN[layer]):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_layers_below(layer: str):
    assert _crossings(layer) == []


def test_every_module_belongs_to_a_layer():
    """Only the entry points live at the top: definitions, settings and public commands."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "definitions.py", "launch.py", "sample.py", "settings.py"]


def test_the_check_catches_a_crossing(tmp_path: Path):
    """The rule above is not vacuous: an import of Dagster in a module is found."""
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom dagster import asset\n")
    assert (2, "dagster") in imports(module)
