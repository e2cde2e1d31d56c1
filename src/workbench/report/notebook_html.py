"""Executed notebooks rendered to standalone HTML that needs no network."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["render_notebook_html"]

# nbconvert's lab template loads require.js, MathJax and mermaid from a CDN. Our notebooks
# use none of them, and a report must open offline, so those script tags are dropped.
_EMPTY_SRC_SCRIPT = re.compile(r'<script[^>]*\ssrc=""[^>]*>\s*</script>', re.IGNORECASE)
_CDN_SCRIPT = re.compile(
    r"<script\b[^>]*>(?:(?!</script>).)*?cdnjs\.cloudflare\.com"
    r"(?:(?!</script>).)*?</script>",
    re.IGNORECASE | re.DOTALL,
)


def render_notebook_html(path: str | Path) -> str:
    """Render an executed notebook to one HTML page with no external scripts.

    Images stay embedded (nbconvert keeps outputs as data URIs).
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(path), as_version=4)
    exporter = HTMLExporter(template_name="lab")
    exporter.mathjax_url = ""
    exporter.require_js_url = ""
    body, _ = exporter.from_notebook_node(nb)
    body = _EMPTY_SRC_SCRIPT.sub("", body)
    return _CDN_SCRIPT.sub("", body)
