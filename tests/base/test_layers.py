"""The package's layers: no module imports from a layer its subpackage's docstring does not allow."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import surroundyou

PACKAGE = Path(surroundyou.__file__).parent
BASE = "base"  # the top-level modules


def allowed_layers(package: Path) -> dict[str, set[str]]:
    """Each subpackage's permitted layers, read from the "May import:" sentence of its docstring."""
    layers = {d.name for d in package.iterdir() if (d / "__init__.py").is_file()}
    allowed = {BASE: {BASE}}
    for layer in layers:
        doc = ast.get_docstring(ast.parse((package / layer / "__init__.py").read_text())) or ""
        rule = doc.split("May import:", 1)[1] if "May import:" in doc else ""
        named = set(re.findall(rf"{package.name}\.(\w+)", rule))
        if "every other layer" in rule:
            named = layers
        allowed[layer] = named | {layer} | ({BASE} if "top-level" in rule or "every other" in rule else set())
    return allowed


def imported(path: Path, package: str) -> set[str]:
    """The package's modules that the module at ``path`` imports (at any depth: lazy imports count)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == package:
            names.add(node.module if node.module.count(".") >= 1 else f"{node.module}.{node.names[0].name}")
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == package}
    return names


def violations(package: Path) -> list[str]:
    allowed = allowed_layers(package)
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).with_suffix("")
        own = BASE if len(rel.parts) == 2 else rel.parts[1]
        for module in imported(path, package.name):
            if module.count(".") == 0:
                continue
            target = module.split(".")[1] if (package / module.split(".")[1]).is_dir() else BASE
            if target not in allowed[own]:
                found.append(f"{'.'.join(rel.parts)} ({own}) imports {module} ({target})")
    return found


def test_every_module_imports_only_from_layers_its_docstring_allows() -> None:
    assert violations(PACKAGE) == []


def test_every_subpackage_says_what_it_may_import() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        assert "May import:" in (ast.get_docstring(ast.parse(init.read_text())) or ""), init


def test_an_import_from_a_higher_layer_is_found(tmp_path: Path) -> None:
    package = tmp_path / "surroundyou"
    for layer, rule in (("dsp", "the top-level modules"), ("run", "every other layer")):
        (package / layer).mkdir(parents=True)
        (package / layer / "__init__.py").write_text(f'"""A layer.\n\nMay import: {rule}.\n"""\n')
    (package / "__init__.py").write_text("")
    (package / "errors.py").write_text("")
    (package / "run" / "cli.py").write_text("from surroundyou.dsp import x\nfrom surroundyou.errors import E\n")
    (package / "dsp" / "motion.py").write_text("def f():\n    from surroundyou.run.cli import main\n")
    (package / "errors.py").write_text("from surroundyou.dsp.motion import f\n")
    assert violations(package) == [
        "surroundyou.dsp.motion (dsp) imports surroundyou.run.cli (run)",
        "surroundyou.errors (base) imports surroundyou.dsp.motion (dsp)",
    ]
