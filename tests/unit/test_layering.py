"""The import contract of docs/design.md §2, checked by parsing every module under strongbox/.

Layers, top to bottom; a module may import its own layer and the layers below it,
never one above:

    cli > server, devcluster > api > sweeper > registry > engines, auth backends
      > backend > core > audit_sync > policy, audit, obs, auth primitives, seal,
      config, clock > state > raft > barrier > pb, errors, timefmt

Besides: the API reaches the store through core (no `api -> state`); raft knows
state only through the apply callback (it sits below it); the client SDK
(`strongbox.client`) imports nothing of the server side and only the CLI imports
it; the in-pod programs (`strongbox.ops`) import only themselves; nothing in the
package imports `strongbox.testing` (it is for tests). Every
module must sit in a layer, so a new package cannot slip past the rules.

Also: pickle is only ever unpickled by strongbox/raft/safe_pickle.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import strongbox

PACKAGE_DIR = Path(strongbox.__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
AUTH_PRIMITIVES = ("strongbox.auth.tokens", "strongbox.auth.throttle", "strongbox.auth.passwords",
                   "strongbox.auth.cidrs")
LAYERS: tuple[tuple[str, ...], ...] = (
    ("strongbox.cli",),
    ("strongbox.server", "strongbox.devcluster", "strongbox.tlsreload", "strongbox.handoff",
     "strongbox.workers"),
    ("strongbox.api",),
    ("strongbox.sweeper",),
    ("strongbox.registry",),
    ("strongbox.engines", "strongbox.auth"),
    ("strongbox.backend",),
    ("strongbox.core", "strongbox.autounseal"),
    ("strongbox.audit_sync",),
    ("strongbox.policy", "strongbox.audit", "strongbox.obs", "strongbox.observability",
     *AUTH_PRIMITIVES, "strongbox.seal", "strongbox.config", "strongbox.clock"),
    ("strongbox.state",),
    ("strongbox.raft",),
    ("strongbox.barrier",),
    ("strongbox.pb", "strongbox.errors", "strongbox.timefmt", "strongbox"),
)
SKIPS = (("strongbox.api", "strongbox.state", "the API reaches the store through core"),)
# Checked by their own rules: the SDK and the in-pod operations programs (bootstrap,
# backup, pod labels) are clients of the HTTP API and import only themselves.
STANDALONE = ("strongbox.client", "strongbox.ops")
OUTSIDE_LAYERS = (*STANDALONE, "strongbox.testing")
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


def layer_of(name: str) -> int | None:
    """Index of the layer holding `name` (0 = top), by its most specific entry."""
    best: tuple[int, int] | None = None
    for index, layer in enumerate(LAYERS):
        for entry in layer:
            if within(name, entry) and (best is None or len(entry) > best[1]):
                best = (index, len(entry))
    return None if best is None else best[0]


def violations(module: str, imported: set[str]) -> list[str]:
    """What `module` importing `imported` breaks of the contract (pure: tested below)."""
    found = []
    own = next((s for s in STANDALONE if within(module, s)), None)
    inside_client = own is not None
    for name in sorted(n for n in imported if within(n, "strongbox")):
        if within(name, "strongbox.testing"):
            found.append(f"{module} imports {name}: strongbox.testing is for tests only")
        elif own is not None and not within(name, own):
            found.append(f"{module} imports {name}: {own} imports nothing of the server "
                         "side")
        elif within(name, "strongbox.client") and not inside_client and not within(
                module, "strongbox.cli"):
            found.append(f"{module} imports {name}: only the CLI uses the client SDK")
        elif not inside_client and not within(name, "strongbox.client"):
            outside = any(within(module, o) for o in OUTSIDE_LAYERS)
            mine, theirs = (None if outside else layer_of(module)), layer_of(name)
            if mine is not None and theirs is not None and theirs < mine:
                found.append(f"{module} imports {name} (a layer above it)")
            found += [f"{module} imports {name}: {why}" for upper, lower, why in SKIPS
                      if within(module, upper) and within(name, lower)]
    return found


@pytest.mark.parametrize(("module", "imported", "expected"), [
    ("strongbox.sweeper", {"strongbox.api.app"}, "a layer above"),
    ("strongbox.cli.cluster", {"strongbox.testing"}, "for tests only"),
    ("strongbox.api.router", {"strongbox.state.store"}, "through core"),
    ("strongbox.raft.log", {"strongbox.state.apply"}, "a layer above"),
    ("strongbox.core", {"strongbox.auth.userpass"}, "a layer above"),
    ("strongbox.backend.storage", {"strongbox.registry"}, "a layer above"),
    ("strongbox.client.http", {"strongbox.errors"}, "imports nothing of the server"),
    ("strongbox.ops.backup", {"strongbox.client"}, "imports nothing of the server"),
    ("strongbox.api.app", {"strongbox.client"}, "only the CLI"),
])
def test_the_checker_sees_each_kind_of_violation(module: str, imported: set[str],
                                                  expected: str) -> None:
    found = violations(module, imported)
    assert any(expected in line for line in found), found


def test_imports_downward_and_sideways_are_allowed() -> None:
    assert violations("strongbox.api.app", {"strongbox.core", "strongbox.api.router",
                                            "strongbox.registry", "strongbox.errors"}) == []
    assert violations("strongbox.cli.main", {"strongbox.client", "strongbox.server"}) == []
    assert violations("strongbox.core", {"strongbox.auth.tokens", "strongbox.state.store"}) == []


def test_every_module_sits_in_a_layer() -> None:
    unplaced = [m for m in modules() if layer_of(m) is None
                and not any(within(m, outside) for outside in OUTSIDE_LAYERS)]
    assert not unplaced, f"add these to LAYERS in {__file__}: {unplaced}"


def test_the_package_has_the_layers_the_rules_talk_about() -> None:
    names = modules()
    for layer in LAYERS:
        for entry in layer:
            assert entry in names, f"{entry} is missing; update the layering rules"


def test_no_module_imports_against_the_contract() -> None:
    found = []
    for module, path in modules().items():
        found += violations(module, imports_of(module, path))
    assert not found, "\n".join(found)


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
