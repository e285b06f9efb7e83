"""The course pages: the API reference covers every public name, the solutions index lists
every exercise of every chapter, whose solution cell is executed in the committed notebook, the
workshop plan adds up and matches the locked stack, and the glossary defines the terms the
book relies on (its two mean teachers, its statistics).

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
WORKSHOP = ROOT / "book" / "workshop.md"
GLOSSARY = ROOT / "book" / "glossary.md"

MODULES = [
    importlib.import_module(m.name)
    for m in pkgutil.walk_packages(drift.__path__, "drift.")
    if not m.ispkg and m.name != "drift.__main__"
]  # every module of every layer (drift/*/)


def public_names(module) -> list[str]:
    """A module's `__all__`, else the functions and classes it defines without a leading _."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    ]


@pytest.fixture(scope="module")
def documented() -> set[str]:
    """The full names of the objects the built API page documents (their HTML anchors)."""
    assert API_HTML.exists(), "build the book first: make book"
    return set(re.findall(r'<dt class="sig[^"]*" id="(drift\.[\w.]+)"', API_HTML.read_text()))


def test_api_page_runs_autodoc_on_every_module():
    text = API_PAGE.read_text()
    for module in MODULES:
        block = re.search(
            rf"^\.\. automodule:: {re.escape(module.__name__)}\n((?:   :.*\n)*)", text, re.M
        )
        assert block, f"book/api.md has no automodule directive for {module.__name__}"
        assert ":members:" in block.group(1) and ":undoc-members:" in block.group(1), (
            module.__name__
        )


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
    return [
        (int(m.group(1)), m.group(0))
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
        for m in re.finditer(r"^### (?:Exercise (\d+).*)$", source(c), re.M)
    ]


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
    solutions = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and "solution" in c["metadata"].get("tags", [])
    ]
    assert len(solutions) == len(exercises(nb)) >= 2, path.name
    for cell in solutions:
        assert cell["execution_count"] is not None and cell["outputs"], (
            f"{path.name}: {source(cell)[:40]!r} not run"
        )


def minutes(clock: str) -> int:
    hours, mins = clock.split(":")
    return 60 * int(hours) + int(mins)


def workshop_blocks() -> list[tuple[int, int, str]]:
    """(start, end, line) of every timed block of the workshop's schedule, lunch included, in
    page order."""
    blocks = []
    for line in WORKSHOP.read_text().splitlines():
        m = re.match(r"^(?:\| |\*\*Lunch\*\* \()(\d+:\d\d)-(\d+:\d\d)", line)
        if m:
            blocks.append((minutes(m.group(1)), minutes(m.group(2)), line))
    return blocks


def estimated_minutes(nb: dict) -> int:
    """The reading time of a chapter's "Estimated time" line (first cell), in minutes."""
    m = re.search(r"\*\*Estimated time:?\*\*:?\s*(\d+) minutes", source(nb["cells"][0]))
    assert m, "the first cell states no **Estimated time**: N minutes"
    return int(m.group(1))


def test_workshop_schedule_adds_up():
    blocks = workshop_blocks()
    assert blocks and blocks[0][0] == 0, "the schedule starts at 0:00"
    for (_, end, line), (start, _, following) in zip(blocks, blocks[1:]):
        assert end == start, f"book/workshop.md: a gap or overlap between\n{line}\n{following}"
    for start, end, line in blocks:
        assert end > start, line


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.name)
def test_workshop_gives_every_chapter_its_estimated_time(path):
    """Every chapter is in the plan, and the blocks that run it last at least the reading time
    its first cell estimates."""
    rows = [(start, end) for start, end, line in workshop_blocks() if f"]({path.name})" in line]
    assert rows, f"book/workshop.md's schedule does not cover {path.name}"
    planned, needed = sum(end - start for start, end in rows), estimated_minutes(load(path))
    assert planned >= needed, f"{path.name}: {planned} minutes planned, {needed} estimated"


def test_workshop_python_is_the_locked_one():
    version = re.search(r"\(Python (3\.\d+)\)", (ROOT / "requirements.lock").read_text()).group(1)
    text = WORKSHOP.read_text()
    assert f"Python {version}" in text, f"book/workshop.md must name Python {version}, the lock's"
    assert not re.search(r"Python 3\.\d+ or later", text), "name the locked Python, not a minimum"


def test_workshop_wheelhouse_gets_the_cpu_build_of_the_locked_torch():
    torch = re.search(r"^TORCH \?= (torch==\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert f"\n{torch}\n" in (ROOT / "requirements.lock").read_text()
    text = WORKSHOP.read_text()
    download = re.search(r"pip download [^`]*?" + re.escape(torch) + r"[^`]*", text)
    assert download, f"book/workshop.md's wheelhouse must download {torch}"
    assert "--index-url https://download.pytorch.org/whl/cpu" in download.group(0), "the CPU build"


@pytest.mark.parametrize(
    "term",
    [
        "mean teacher",
        "original mean teacher",
        "best response",
        "EMA teacher",
        "paired difference",
        "t interval",
        "permutation p-value",
        "equivalence test",
        "multiplicity correction",
        "flip rate",
        "oscillation",
        "verdict",
    ],
)
def test_glossary_defines(term):
    assert re.search(rf"^{re.escape(term)}$", GLOSSARY.read_text(), re.M), (
        f"book/glossary.md lacks {term!r}"
    )


def test_glossary_separates_the_two_mean_teachers():
    entries = dict(re.findall(r"^(\S[^\n]*)\n((?:  [^\n]*\n)+)", GLOSSARY.read_text(), re.M))
    assert "mean_teacher_original" in entries["original mean teacher"]
    for verdict in ["better", "worse", "equivalent within ±margin", "inconclusive"]:
        assert f'"{verdict}"' in entries["verdict"], verdict
