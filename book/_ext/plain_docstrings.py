"""Sphinx extension: read the package's plain-text docstrings as reStructuredText (book/api.md).

The docstrings are prose with shapes, and list their arguments as `name: text` lines whose
continuation lines are indented. reStructuredText would read those as definition lists and
block quotes, `*` (as in `(N, *feature_shape)`) as emphasis, `|x|` as a substitution and `x_`
as a link. This hook turns each such block into a bullet list with the continuations joined,
and escapes those characters outside code. A constant without a docstring gets no docstring
rather than its type's.
"""

import re

_ENTRY = re.compile(r"^[\w*`][\w*`, ()/.=\"-]*: ")
_CODE = re.compile(r"(`[^`]*`)")
_MARKUP = re.compile(r"[*|]|(?<=\w)_(?!\w)")


def _escape(line):
    parts = _CODE.split(line)
    return "".join(
        p if p.startswith("`") else _MARKUP.sub(lambda m: "\\" + m.group(0), p) for p in parts
    )


def _entries(block):
    """The block's lines as entries if it lists `name: text` items, else None."""
    if not any(line.startswith(" ") for line in block[1:]) and not all(
        _ENTRY.match(entry) for entry in block
    ):
        return None
    entries = []
    for line in block:
        if line.startswith(" ") and entries:
            entries[-1] += " " + line.strip()
        else:
            entries.append(line.strip())
    return entries


def _rewrite(app, what, name, obj, options, lines):
    if (
        what in ("data", "attribute")
        and lines
        and lines[0] == (type(obj).__doc__ or "").split("\n")[0]
    ):
        lines[:] = []  # a constant without a docstring: autodoc offers its type's (dict's, ...)
        return
    blocks, block = [], []
    for line in lines + [""]:
        if line.strip():
            block.append(_escape(line))
        elif block:
            blocks.append(block)
            block = []
    out = []
    for block in blocks:
        entries = _entries(block)
        out += [f"- {entry}" for entry in entries] if entries else block
        out.append("")
    lines[:] = out


def setup(app):
    app.connect("autodoc-process-docstring", _rewrite)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
