"""The HTML report: one self-contained page per run (``reports/<run-id>/index.html``).

:func:`build_report` reads only the result store and the run's ``run.json``; it embeds its
plots as inline SVG and its styles inline, so the page opens offline from any folder.
"""

from workbench.report.notebook_html import render_notebook_html
from workbench.report.page import build_report

__all__ = ["build_report", "render_notebook_html"]
