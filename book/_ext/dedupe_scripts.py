"""Sphinx extension: drop repeated <script> entries from each page.

Under Jupyter Book 1.x, sphinx-thebe adds its inline configuration twice, which redeclares a
`const` and raises a JavaScript error on every page. Keeping the first of identical scripts
removes the error and changes nothing else.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # sphinx-thebe's two copies differ only in filename None vs "" (an inline script)
        filename = getattr(script, "filename", script) or ""
        key = (
            str(filename),
            tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
