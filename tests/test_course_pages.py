"""The course pages: the API reference covers every public name, the solutions index lists
every exercise of every chapter, whose solution cell is executed in the committed notebook, and
the glossary defines the terms the book relies on (its two mean teachers, its statistics).

The API checks read the built page, so they need `make book` first (as `make test` does)."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import drift
from book_files import ROOT, chapters, load, source

API_PAGE = ROOT / "book" / "api.md"
API_HTML = ROOT / "_build" / "html" / "book" / "api.html"
SOLUTIONS = ROOT / "book" / "solutions.md"
GLOSSARY = ROOT / "book" / "glossary.md"

MODULES = [importlib.import_module(f"drift.{m.name}") for m in pkgutil.iter_modules(drift.__path__)
           if m.name != "__main__"]


def public_names(module) -> list[str]:
    """A module's `__all__`, else the functions and classes it defines without a leading _."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == module.__name__]


@pytest.fixture(scope="module")
def documented() -> set[str]:
    """The full names of the objects the built API page documents (their HTML anchors)."""
    assert API_HTML.exists(), "build the book first: make book"
    return set(re.findall(r'<dt class="sig[^"]*" id="(drift\.[\w.]+)"', API_HTML.read_text()))


def test_api_page_runs_autodoc_on_every_module():
    text = API_PAGE.read_text()
    for module in MODULES:
        block = re.search(rf"^\.\. automodule:: {re.escape(module.__name__)}\n((?:   :.*\n)*)", text, re.M)
        assert block, f"book/api.md has no automodule directive for {module.__name__}"
        assert ":members:" in block.group(1) and ":undoc-members:" in block.group(1), module.__name__


def test_every_name_of_drift_all_is_documented(documented):
    for name in drift.__all__:
        obj = getattr(drift, name)
        homes = {f"{m.__name__}.{name}" for m in MODULES if vars(m).get(name) is obj}
        assert homes & documented, f"drift.{name} is missing from the built API page"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_public_name_of_each_module_is_documented(module, documented):
    missing = [n for n in public_names(module) if f"{module.__name__}.{n}" not in documented]
    assert not missing, f"{module.__name__}: {missing} are missing from the built API page"


def heading_slug(text: str) -> str:
    """The anchor MyST gives a heading (myst_heading_anchors in _config.yml)."""
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text.strip().lower()))


def exercises(nb: dict) -> list[tuple[int, str]]:
    return [(int(m.group(1)), m.group(0)) for c in nb["cells"] if c["cell_type"] == "markdown"
            for m in re.finditer(r"^### (?:Exercise (\d+).*)$", source(c), re.M)]


@pytest.fixture(params=chapters(), ids=lambda p: p.name)
def chapter(request):
    return request.param, load(request.param)


def test_solutions_page_links_every_exercise(chapter):
    path, nb = chapter
    text = SOLUTIONS.read_text()
    assert f"]({path.name})" in text, f"book/solutions.md has no section for {path.name}"
    for _, heading in exercises(nb):
        title = heading.removeprefix("### ")
        link = f"- [{title}]({path.name}#{heading_slug(title)})"
        assert link in text, f"book/solutions.md lacks {link}"


def test_every_solution_cell_is_executed(chapter):
    path, nb = chapter
    solutions = [c for c in nb["cells"] if c["cell_type"] == "code" and "solution" in c["metadata"].get("tags", [])]
    assert len(solutions) == len(exercises(nb)) >= 2, path.name
    for cell in solutions:
        assert cell["execution_count"] is not None and cell["outputs"], f"{path.name}: {source(cell)[:40]!r} not run"


@pytest.mark.parametrize("term", [
    "mean teacher", "original mean teacher", "best response", "EMA teacher", "paired difference",
    "t interval", "permutation p-value", "equivalence test", "multiplicity correction",
    "flip rate", "oscillation", "verdict",
])
def test_glossary_defines(term):
    assert re.search(rf"^{re.escape(term)}$", GLOSSARY.read_text(), re.M), f"book/glossary.md lacks {term!r}"


def test_glossary_separates_the_two_mean_teachers():
    entries = dict(re.findall(r"^(\S[^\n]*)\n((?:  [^\n]*\n)+)", GLOSSARY.read_text(), re.M))
    assert "mean_teacher_original" in entries["original mean teacher"]
    for verdict in ["better", "worse", "equivalent within ±margin", "inconclusive"]:
        assert f'"{verdict}"' in entries["verdict"], verdict
