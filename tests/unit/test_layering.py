"""Import direction of docs/design.md §2, checked by parsing every module under strongbox/.

    api -> engines/auth/policy/audit -> barrier/state -> (nothing above)
    raft knows state only through the apply callback

Also: pickle is only ever unpickled by strongbox/raft/safe_pickle.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import strongbox

PACKAGE_DIR = Path(strongbox.__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
UPPER = ("strongbox.api", "strongbox.engines", "strongbox.core", "strongbox.server",
         "strongbox.cli")
RULES: dict[str, tuple[str, ...]] = {
    "strongbox.state": UPPER,
    "strongbox.barrier": UPPER,
    "strongbox.seal": UPPER,
    "strongbox.raft": ("strongbox.state", "strongbox.api", "strongbox.engines",
                       "strongbox.core"),
    "strongbox.engines": ("strongbox.api", "strongbox.server", "strongbox.cli"),
    "strongbox.auth": (*UPPER, "strongbox.raft"),
}
SAFE_PICKLE = "strongbox/raft/safe_pickle.py"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def imports_of(module: str, path: Path) -> set[str]:
    """Every module `module` imports, absolute, including `from pkg import submodule`."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                drop = node.level - 1 if is_package else node.level
                base = base[: len(base) - drop] if drop else base
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_helpers_see_every_import_form(tmp_path: Path) -> None:
    pkg = tmp_path / "strongbox" / "engines" / "kv"
    pkg.mkdir(parents=True)
    source = pkg / "engine.py"
    source.write_text("import strongbox.api.app\nfrom strongbox import cli\n"
                      "from . import views\nfrom ..other import thing\n"
                      "def f():\n    from strongbox.server import Node\n")
    found = imports_of("strongbox.engines.kv.engine", source)
    assert {"strongbox.api.app", "strongbox.cli", "strongbox.engines.kv.views",
            "strongbox.engines.other.thing", "strongbox.server.Node"} <= found


def test_the_package_has_the_layers_the_rules_talk_about() -> None:
    names = modules()
    for package in ("strongbox.state", "strongbox.barrier", "strongbox.seal",
                    "strongbox.raft", "strongbox.engines", "strongbox.core",
                    "strongbox.api"):
        assert package in names, f"{package} is missing; update the layering rules"


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_does_not_import_layers_above_it(layer: str) -> None:
    violations = []
    for module, path in modules().items():
        if not within(module, layer):
            continue
        for imported in sorted(imports_of(module, path)):
            for forbidden in RULES[layer]:
                if within(imported, forbidden):
                    violations.append(f"{module} imports {imported} ({forbidden} is above "
                                      f"{layer})")
    assert not violations, "\n".join(violations)


class _UnpickleFinder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.hits: list[int] = []

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if (node.attr in ("load", "loads") and isinstance(node.value, ast.Name)
                and node.value.id in ("pickle", "cPickle", "_pickle")):
            self.hits.append(node.lineno)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module in ("pickle", "_pickle") and any(
                alias.name in ("load", "loads") for alias in node.names):
            self.hits.append(node.lineno)


def test_the_unpickle_finder_sees_both_forms() -> None:
    finder = _UnpickleFinder()
    finder.visit(ast.parse("import pickle\nx = pickle.loads(b'')\n"
                           "from pickle import load\n"))
    assert finder.hits == [2, 3]


def test_only_safe_pickle_unpickles() -> None:
    offenders = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == SAFE_PICKLE:
            continue
        text = path.read_text()
        finder = _UnpickleFinder()
        finder.visit(ast.parse(text, rel))
        offenders += [f"{rel}:{line}" for line in finder.hits]
        for needle in ("pickle.loads", "pickle.load("):
            if needle in text:
                offenders.append(f"{rel}: mentions {needle!r}")
    assert not offenders, "\n".join(offenders)
