"""The package layers of ARCHITECTURE.md, enforced: no module imports a layer above its own.

Every ``import`` in every module (function-level ones included) is read with
``ast``; an import of a higher layer, of the sibling that must stay independent
(training and serving), or of a bare ``model``/``service``/``training`` name
(the pre-namespace spelling) fails with the file, line and both layers named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (module prefix, layer rank, group). Longest prefix wins. Same rank, different
# group = siblings that must not import each other.
LAYERS: list[tuple[str, int, str]] = [
    ("introrank.model", 0, "model"),
    ("introrank.service.settings", 1, "base"),
    ("introrank.service.errors", 1, "base"),
    ("introrank.service.schemas", 1, "base"),
    ("introrank.service.store", 2, "store"),
    ("introrank.training", 3, "training"),
    ("introrank.service.serving", 3, "serving"),
    ("introrank.service.integrations.webhooks", 4, "integrations"),
    ("introrank.service.integrations.webhook_delivery", 4, "integrations"),
    ("introrank.service.integrations.webhook_targets", 4, "integrations"),
    ("introrank.service.api", 5, "api"),
    ("introrank.service.integrations.client", 5, "client"),
    ("introrank", 6, "top"),
]
FOLDERS = {"model": "introrank.model", "service": "introrank.service", "training": "introrank.training",
           "introrank": "introrank"}
OLD_NAMES = {"model", "service", "training"}


def layer_of(module: str) -> tuple[int, str]:
    best = max((p for p in LAYERS if module == p[0] or module.startswith(p[0] + ".")), key=lambda p: len(p[0]))
    return best[1], best[2]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = [FOLDERS[rel.parts[0]], *rel.parts[1:]]
    parts[-1] = parts[-1].removesuffix(".py")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> list[Path]:
    files = [p for folder in ("model", "service", "training") for p in (ROOT / folder).rglob("*.py")]
    files += [p for p in (ROOT / "introrank").glob("*.py")]
    return sorted(p for p in files if "migrations" not in p.parts or p.name == "env.py")


def imports_of(path: Path, module: str, source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source, filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: -node.level] if not path.name == "__init__.py" else \
                    module.split(".")[: len(module.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def violations(path: Path, source: str | None = None) -> list[str]:
    module = module_name(path)
    own_rank, own_group = layer_of(module)
    problems = []
    for line, imported in imports_of(path, module, path.read_text() if source is None else source):
        top = imported.split(".")[0]
        where = f"{path.relative_to(ROOT)}:{line}"
        if top in OLD_NAMES:
            problems.append(f"{where} imports {imported!r}: use the introrank.{top} namespace")
            continue
        if top != "introrank" or imported == "introrank.__version__":
            continue
        rank, group = layer_of(imported)
        if rank > own_rank or (rank == own_rank and group != own_group):
            problems.append(f"{where}: {module} ({own_group}, layer {own_rank}) imports {imported} "
                            f"({group}, layer {rank})")
    return problems


def test_layer_map_knows_every_module():
    assert len(package_modules()) > 50
    for path in package_modules():
        layer_of(module_name(path))  # raises ValueError on an unmapped module


@pytest.mark.parametrize("path", package_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_respect_layers(path):
    assert violations(path) == []


def test_checker_catches_an_upward_import():
    """The check itself can fail: a model module importing the store, or an old name, is reported."""
    path = ROOT / "model" / "features.py"
    source = path.read_text() + "\nfrom introrank.service.store.engine import get_engine\nimport service.app\n"
    found = violations(path, source)
    assert any("layer 0) imports introrank.service.store.engine" in v for v in found)
    assert any("use the introrank.service namespace" in v for v in found)
    sideways = "from introrank.service.serving.recommend import recommend\n"
    assert any("(serving, layer 3)" in v for v in violations(ROOT / "training" / "train.py", sideways))


def test_training_and_serving_are_siblings():
    assert layer_of("introrank.training.train")[0] == layer_of("introrank.service.serving.recommend")[0]
    assert layer_of("introrank.training.train")[1] != layer_of("introrank.service.serving.recommend")[1]


def test_architecture_doc_matches_the_tree():
    """Every service and top-layer module is named in ARCHITECTURE.md, and every path it names exists."""
    import re

    doc = (ROOT / "ARCHITECTURE.md").read_text()
    modules = [p for p in (ROOT / "service").rglob("*.py") if p.name != "__init__.py" and "migrations" not in p.parts]
    modules += [p for p in (ROOT / "introrank").glob("*.py") if p.name != "__init__.py"]
    missing = [str(p.relative_to(ROOT)) for p in modules if f"`{p.name}`" not in doc and
               f"/{p.name}`" not in doc and f"{p.stem}`" not in doc]
    assert missing == [], f"ARCHITECTURE.md does not mention {missing}"
    for path in re.findall(r"`((?:model|service|training|introrank|tests)/[\w/.-]+)`", doc):
        if "*" in path or "NNNN" in path or "<" in path:
            continue
        assert (ROOT / path.split(" ")[0]).exists(), f"ARCHITECTURE.md names {path}, which does not exist"
