"""The claims page quotes only what the book's executed cells printed.

Each row of the table in book/claims.md links the notebooks that hold its evidence; every
number in its "what we measured" column must appear in the printed outputs of those notebooks,
so a figure that changes when a chapter is re-executed fails here until the page is updated.
"""

import re

from book_files import ROOT, load

CLAIMS = ROOT / "book" / "claims.md"
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def table_rows() -> list[list[str]]:
    lines = [ln for ln in CLAIMS.read_text().splitlines() if ln.startswith("|")]
    header = [c.strip().lower() for c in lines[0].strip("|").split("|")]
    assert header == [
        "claim of the paper",
        "what the paper says",
        "what we measured",
        "evidence",
        "holds at our scale",
    ]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]


def printed_outputs(notebook: str) -> str:
    texts = []
    for cell in load(ROOT / "book" / notebook)["cells"]:
        for out in cell.get("outputs", []):
            texts.append("".join(out.get("text", "")))
            for mime in ("text/plain", "text/html", "text/markdown"):
                texts.append("".join(out.get("data", {}).get(mime, "")))
    return "\n".join(texts)


def test_every_claim_row_is_complete():
    rows = table_rows()
    assert len(rows) >= 5
    for claim, paper, measured, evidence, holds in rows:
        assert claim and paper and measured
        assert re.search(r"\(\d\d_\w+\.ipynb\)", evidence), f"no notebook linked for: {claim}"
        assert holds.lower().strip("* ") in {"yes", "no", "partly"}, holds


def test_every_quoted_number_was_printed_by_the_linked_notebooks():
    for claim, _, measured, evidence, _ in table_rows():
        printed = "\n".join(
            printed_outputs(nb) for nb in re.findall(r"\((\d\d_\w+\.ipynb)\)", evidence)
        )
        for number in NUMBER.findall(re.sub(r"\[[^\]]*\]\([^)]*\)", "", measured)):
            assert number in printed, f"{claim}: {number} is not in the outputs of {evidence}"
