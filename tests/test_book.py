"""Every chapter notebook follows the book's conventions (CONTRIBUTING.md)."""

import re
import sys

import nbformat
import pytest

from book_files import CHECK_LABEL, INSTALL_CELL, ROOT, chapters, colab_url, load, source
from portable_outputs import check_tolerance
from processes import run

CHAPTERS = chapters()


def test_there_are_chapters():
    assert len(CHAPTERS) >= 3, [p.name for p in CHAPTERS]


@pytest.fixture(params=CHAPTERS, ids=[p.stem for p in CHAPTERS])
def notebook(request):
    return request.param, load(request.param)


def test_opens_with_title_badge_objectives_and_time(notebook):
    path, nb = notebook
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown"
    text = source(first)
    assert text.startswith("# "), "the first cell starts with the chapter title"
    assert f"[![Open in Colab](images/colab-badge.svg)]({colab_url(path)})" in text
    assert "Learning objectives" in text and "Estimated time" in text


def test_opens_with_prerequisites_linking_the_notation_page(notebook):
    """The first cell says what the chapter assumes, with a pointer per tool, and links the one
    page that defines every symbol (book/notation.md)."""
    _, nb = notebook
    text = source(nb["cells"][0])
    box = re.search(r"```\{admonition\} Prerequisites\n(.*?)```", text, re.S)
    assert box, "the first cell has a ```{admonition} Prerequisites box"
    assert len(re.findall(r"^- ", box.group(1), re.M)) >= 2, (
        "the box lists the tools the chapter uses"
    )
    assert "(notation.md)" in box.group(1), "the box links [Notation and definitions](notation.md)"
    assert (ROOT / "book" / "notation.md").exists() and "book/notation" in (
        ROOT / "_toc.yml"
    ).read_text()


def test_asks_the_reader_to_predict_before_a_reveal(notebook):
    """At least one predict-then-reveal prompt: a markdown cell that asks before a code cell
    answers."""
    _, nb = notebook
    cells = nb["cells"]
    prompts = [
        i
        for i, c in enumerate(cells)
        if c["cell_type"] == "markdown" and "**Predict before you run.**" in source(c)
    ]
    assert prompts, "no markdown cell with **Predict before you run.**"
    assert any(any(c["cell_type"] == "code" for c in cells[i + 1 : i + 3]) for i in prompts), (
        "a prediction prompt is followed by the code cell that reveals the answer"
    )


def test_install_cell_comes_first_and_is_exact(notebook):
    _, nb = notebook
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert source(code[0]) == INSTALL_CELL


def test_has_scale_knob_and_seeds_through_drift(notebook):
    _, nb = notebook
    code = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "code")
    assert re.search(r'^SCALE = "cpu"', code, re.M), "a visible SCALE knob"
    assert "drift.seed_everything(" in code


def test_is_valid_nbformat_with_cell_ids(notebook):
    path, nb = notebook  # nb: the file's JSON as written (nbformat.read would add missing ids)
    assert all("id" in c for c in nb["cells"]), (
        f"{path.name}: every cell needs an id (nbformat 4.5)"
    )
    nbformat.validate(nbformat.from_dict(nb))


def test_is_executed_without_errors(notebook):
    _, nb = notebook
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or not source(cell).strip():
            continue
        assert cell["execution_count"] is not None, source(cell)[:80]
        assert not [o for o in cell["outputs"] if o["output_type"] == "error"], source(cell)[:80]


def test_has_at_least_two_figures_and_asserts_claims(notebook):
    _, nb = notebook
    figures = sum(
        "image/png" in o.get("data", {})
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c["outputs"]
    )
    assert figures >= 2
    assert any(
        re.search(r"^\s*assert ", source(c), re.M) for c in nb["cells"] if c["cell_type"] == "code"
    )


def test_every_exercise_has_a_hidden_solution_that_runs(notebook):
    _, nb = notebook
    exercises = [
        int(m.group(1))
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
        for m in re.finditer(r"^### Exercise (\d+)", source(c), re.M)
    ]
    assert len(exercises) >= 2
    solutions = {}
    for c in nb["cells"]:
        m = re.match(r"# Solution to exercise (\d+)", source(c))
        if c["cell_type"] == "code" and m:
            assert {"hide-cell", "solution"} <= set(c["metadata"].get("tags", [])), source(c)[:40]
            assert c["execution_count"] is not None  # nbval runs it with the rest
            solutions[int(m.group(1))] = c
    assert sorted(solutions) == sorted(exercises)


def test_masked_cells_give_a_reason_and_assert_nothing(notebook):
    _, nb = notebook
    for c in nb["cells"]:
        if "nbval-ignore-output" in c.get("metadata", {}).get("tags", []):
            text = source(c)
            assert text.startswith("# nbval-ignore-output:"), text[:80]
            assert not re.search(r"^\s*assert ", text, re.M), "no claim may hide in a masked cell"


def test_tolerances_are_well_formed_and_on_compared_cells(notebook):
    """A tolerance (CONTRIBUTING rule 8) says where its size comes from and sits on a cell whose
    output nbval compares: on a masked cell it would be a check that cannot fail."""
    _, nb = notebook
    for c in nb["cells"]:
        if "tolerance" in c.get("metadata", {}):
            check_tolerance(c["metadata"]["tolerance"])
            assert "nbval-ignore-output" not in c["metadata"].get("tags", []), source(c)[:80]
            assert c.get("outputs"), f"a tolerance on a cell without output: {source(c)[:80]}"


def test_colab_badge_image_is_local():
    assert (ROOT / "book" / "images" / "colab-badge.svg").exists()


def asserts(cell) -> bool:
    return bool(re.search(r"^\s*assert ", source(cell), re.M))


def is_solution(cell) -> bool:
    return {"hide-cell", "solution"} <= set(cell["metadata"].get("tags", []))


def test_checks_of_claims_are_collapsed(notebook):
    """Every cell that asserts the prose's claims (rule 5) is a check cell: its code collapsed
    (`hide-input`) under the one-line label CHECK_LABEL; nbval still runs it. Solutions are
    hidden already."""
    path, nb = notebook
    for c in nb["cells"]:
        if c["cell_type"] != "code" or not asserts(c) or is_solution(c):
            continue
        assert "hide-input" in c["metadata"].get("tags", []), (
            f"{path.name}: a check cell needs the tag hide-input: {source(c)[:80]}"
        )
        prompt = c["metadata"].get("mystnb", {}).get("code_prompt_show")
        assert prompt == CHECK_LABEL, (
            f'{path.name}: a check cell is labelled mystnb.code_prompt_show = "{CHECK_LABEL}": '
            f"{source(c)[:80]}"
        )


def test_figures_are_numbered_and_referenced(notebook):
    """Each figure carries a title "Figure N. ..." (N = 1, 2, ... in order) and the prose refers
    to it."""
    path, nb = notebook
    numbers = []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        figures = sum("image/png" in o.get("data", {}) for o in c["outputs"])
        titles = [int(n) for n in re.findall(r"Figure (\d+)\. ", source(c))]
        assert len(titles) == figures, (
            f"{path.name}: {figures} figure(s) but titles {titles}: {source(c)[:80]}"
        )
        numbers += titles
    assert numbers == list(range(1, len(numbers) + 1)), f"{path.name}: figures numbered {numbers}"
    prose = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    unreferenced = [n for n in numbers if not re.search(rf"\bFigure {n}\b", prose)]
    assert not unreferenced, f"{path.name}: the prose never refers to Figure(s) {unreferenced}"


def test_no_table_is_printed_as_text(notebook):
    """Tables are displayed (drift.Table, Results: rendered markdown), never printed into an
    output box where they run off the page."""
    path, nb = notebook
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            if o["output_type"] == "stream":
                assert "|---" not in o["text"], (
                    f"{path.name}: a printed table; display it instead: {source(c)[:80]}"
                )


@pytest.mark.parametrize(
    "command", [["format", "--check", "--diff"], ["check"]], ids=["format", "lint"]
)
def test_code_is_formatted_to_the_page(command):
    """Notebook code is ruff-formatted to 88 columns and lint-clean (book/ruff.toml, which
    extends pyproject.toml's [tool.ruff])."""
    # it takes < 1 s
    result = run([sys.executable, "-m", "ruff", *command, "book"], cwd=ROOT, timeout=60)
    assert result.returncode == 0, (
        f"`ruff {' '.join(command)} book` failed; run `ruff format book`:\n"
        f"{result.stdout}{result.stderr}"
    )


def test_every_source_file_the_book_names_exists():
    """Paths like `drift/training/loop.py` in the chapters, the pages and the README (links to
    the code included) name files of this repository: a moved module cannot leave a dead link."""
    cells = [source(c) for p in CHAPTERS for c in load(p)["cells"]]
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "book").glob("*.md"))]
    named = set()
    for text in cells + [p.read_text() for p in pages]:
        named |= set(re.findall(r"(?<![\w/.-])((?:drift|benchmarks|tools|tests)/[\w/]+\.py)", text))
    assert named, "the pattern finds no path: it is broken"
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"the book names files that do not exist: {missing}"
