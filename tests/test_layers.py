"""The package is layered: each module imports only from its own layer and those below it.

base (`drift/*.py`: inputs, models, metrics, tables, runtime, plotting, validation) <- `drift.core`
<- `drift.data` <- `drift.training` <- `drift.experiments` <- `drift.book`; the CLI
(`drift/__main__.py`) and `drift/__init__.py` sit on top. The chapter helpers in `drift.book` are
imported by nothing but the top.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "drift"
LAYERS = {"core": 1, "data": 2, "training": 3, "experiments": 4, "book": 5}
TOP = 6


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(name: str) -> int:
    """The layer of a module drift.x.y (a subpackage's own __init__ is in its layer)."""
    parts = name.split(".")
    if name == "drift" or parts[1:] == ["__main__"]:
        return TOP
    if len(parts) >= 2 and parts[1] in LAYERS:
        return LAYERS[parts[1]]
    if len(parts) == 2 and (PACKAGE / f"{parts[1]}.py").is_file():
        return 0
    raise AssertionError(f"{name} is in no layer: put it in a subpackage of drift or in the base")


def imported(path: Path) -> set[str]:
    """The drift modules (or packages) a file imports, absolute names, at any depth of the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "drift"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "drift":
                continue
            # `from drift.x import y`: y may be a module of x; the deeper name is the stricter one
            for a in node.names:
                deeper = f"{target}.{a.name}"
                out.add(deeper if _is_module(deeper) else target)
    return out


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    for path in MODULES:
        layer(module_name(path))
    assert {p.parent.name for p in MODULES} == {"drift", *LAYERS}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_only_from_below(path):
    name = module_name(path)
    own = layer(name)
    upward = sorted(t for t in imported(path) if t != "drift" and layer(t) > own)
    assert not upward, f"{name} (layer {own}) imports from higher layers: {upward}"
    if own < TOP:
        assert "drift" not in imported(path), (
            f"{name} imports the top package drift; import the module instead"
        )
        book = sorted(
            t
            for t in imported(path)
            if layer(t) == LAYERS["book"] and not name.startswith("drift.book")
        )
        assert not book, f"{name} imports the chapter helpers {book}: only the top may"


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The parser resolves relative imports: a core module importing training is caught."""
    fake = PACKAGE / "core" / "labels.py"
    source = "from ..training.loop import train\nfrom . import weights\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)
    assert imported(fake) == {"drift.training.loop", "drift.core.weights"}
    assert layer("drift.training.loop") > layer(module_name(fake))


def test_old_module_names_resolve_to_their_new_modules_with_a_deprecation_warning():
    """`drift.maps`, `from drift import trainer`, ... keep working after the move, and say where
    the module is now."""
    import importlib

    import drift

    for old, new in drift._MOVED.items():
        with pytest.warns(DeprecationWarning, match=f"drift.{old} is now drift.{new}"):
            assert getattr(drift, old) is importlib.import_module(f"drift.{new}"), old
    with pytest.warns(DeprecationWarning, match="drift.trainer is now drift.training.loop"):
        from drift import trainer
    assert trainer.train is drift.train
    assert drift.analysis is importlib.import_module("drift.core.analysis")
    assert drift.sources is importlib.import_module("drift.data.sources")
    assert drift.distributed is importlib.import_module("drift.training.distributed")
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        drift.nonexistent
