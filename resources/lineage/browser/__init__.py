"""The lineage browser: ``citrus lineage serve``, a read-only web app over the DuckDB lineage index.

Server-rendered pages (Starlette + Jinja2 with autoescape: records hold untrusted text) for a record's
ancestry down to its source line (an SVG graph laid out with networkx, no JavaScript), the impact of a
source file, an asset partition, a record or a retraction, a checkpoint's inputs and data card, and a
search box. It binds to 127.0.0.1 by default and never writes the lake (the DuckDB index, a derived
file, is synced as ``citrus lineage trace`` does). Dagster materializations link here
(:func:`resources.lineage.settings.browser_links`).
"""

from resources.lineage.browser.app import create_app, serve

__all__ = ["create_app", "serve"]
