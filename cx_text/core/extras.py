"""Optional features and the pip extra that brings each (``pip install 'cx-text[app]'``)."""

from __future__ import annotations

import importlib.util

from cx_text.core.errors import ConfigError

#: extra -> the modules it installs
EXTRAS = {
    "app": ("streamlit", "altair"),
    "reports": ("jinja2", "weasyprint", "altair", "vl_convert"),
    "spark": ("pyspark",),
}


def require(extra: str, what: str) -> None:
    """Raise an actionable ConfigError when a module of ``extra`` is not installed."""
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"{what} needs {', '.join(missing)}, which is not installed.",
            f"Install the extra: pip install 'cx-text[{extra}]'.",
        )
