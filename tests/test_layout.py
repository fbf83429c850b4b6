"""The layout reads as the data flow: layers import only downward, no cycles.

Layers, lowest first (docs/architecture.md): a module may import its own layer's package
and any lower layer, never a higher one. Imports inside functions count as arrows too, and
are allowed only in ``commands/`` (fast ``--help``) and for optional heavy dependencies.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "livegen"

#: sub-packages (or top-level modules) by layer, lowest first; one layer may hold several
#: packages that never import each other's way up.
LAYERS: list[set[str]] = [
    {"errors", "interrupts"},
    {"music"},
    {"controls"},
    {"nets"},
    {"sampling"},
    {"voices", "data"},
    {"engine"},
    {"io"},
    {"training"},
    {"web"},
    {"session", "offline"},
    {"bench"},
    {"commands"},
    {"cli"},
    {"__main__", "__init__"},
]
#: packages that may also import each other within one layer (one direction only).
SAME_LAYER_OK = {("offline", "training"), ("voices", "data")}

#: non-livegen modules whose import may sit inside a function (optional or heavy).
OPTIONAL = {"matplotlib", "jack", "aalink", "fluidsynth", "scipy", "platformdirs", "resource"}

BANNED_IN_PURE = {"mido", "pythonosc", "asyncio", "rtmidi", "socket"}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 2:
            parts = parts[:-1]
        yield ".".join(parts), path


def layer_of(module: str) -> int:
    head = module.split(".")[1] if "." in module else "__init__"
    for i, names in enumerate(LAYERS):
        if head in names:
            return i
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS and docs/architecture.md")


def imports(path: Path) -> Iterator[tuple[str, bool]]:
    """(imported module, inside a function) for every import statement."""
    tree = ast.parse(path.read_text())
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner |= {id(sub) for sub in ast.walk(node) if isinstance(sub, ast.Import | ast.ImportFrom)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in inner
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module, id(node) in inner
            if node.module == "livegen":
                for alias in node.names:
                    if (ROOT / alias.name).is_dir() or (ROOT / f"{alias.name}.py").is_file():
                        yield f"livegen.{alias.name}", id(node) in inner


def test_every_module_sits_in_a_layer_and_imports_only_downward() -> None:
    wrong = []
    for module, path in modules():
        mine = layer_of(module)
        me = module.split(".")[1] if "." in module else "__init__"
        for target, _ in imports(path):
            if not target.startswith("livegen.") or target == "livegen":
                continue
            theirs = layer_of(target)
            them = target.split(".")[1]
            if theirs > mine or (theirs == mine and me != them and (me, them) not in SAME_LAYER_OK):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_only_cli_errors_interrupts_and_entry_points_at_the_top() -> None:
    top = sorted(p.name for p in ROOT.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py", "errors.py", "interrupts.py"]


def test_imports_inside_functions_only_in_commands_or_for_optional_dependencies() -> None:
    found = []
    for module, path in modules():
        if module.startswith("livegen.commands"):
            continue
        for target, inner in imports(path):
            if inner and target.split(".")[0] not in OPTIONAL:
                found.append(f"{module}: {target}")
    assert found == []


def test_pure_layers_never_reach_for_ports_sockets_or_the_event_loop() -> None:
    """music/, controls/, nets/, sampling/, voices/ and data/ stay free of I/O."""
    pure = {"music", "controls", "nets", "sampling", "voices", "data"}
    found = []
    for module, path in modules():
        if "." in module and module.split(".")[1] in pure:
            found += [f"{module}: {t}" for t, _ in imports(path) if t.split(".")[0] in BANNED_IN_PURE]
    assert found == []


def test_the_keyboard_constants_are_defined_once() -> None:
    defining = []
    for module, path in modules():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                if names & {"N_KEYS", "LOWEST_PITCH"}:
                    defining.append(module)
    assert set(defining) == {"livegen.music.keyboard"}


#: rooms inside a package: (package, its sub-package). The sub-package may import the
#: package's own modules; those never import it (its room is entered from above only).
ROOMS = [("livegen.io", "livegen.io.jack"), ("livegen.music", "livegen.music.abc")]


def test_the_rooms_inside_io_and_music_are_entered_from_above_only() -> None:
    wrong = []
    for package, room in ROOMS:
        for module, path in modules():
            if not module.startswith(package + ".") or module == room or module.startswith(room + "."):
                continue
            wrong += [f"{module} -> {target}" for target, _ in imports(path)
                      if target == room or target.startswith(room + ".")]
    assert wrong == []
    assert len([p for p in (ROOT / "io").glob("*.py") if p.stem.startswith("jack")]) == 1  # jackd.py
    assert not [p for p in (ROOT / "music").glob("abc*.py")]


def test_every_sub_package_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT.parent).parts) for p in ROOT.rglob("__init__.py")}
    assert found - listed == set()
