"""Launching the Streamlit app: the ``streamlit run`` command line ``cx-text app`` execs."""

from __future__ import annotations

from pathlib import Path

from cx_text.core.errors import StoreError

APP_MAIN = Path(__file__).resolve().parent / "streamlit" / "main.py"


def streamlit_command(
    db_path: Path,
    port: int = 8501,
    host: str = "localhost",
    app_path: Path | None = None,
    max_upload_mb: int = 200,
) -> list[str]:
    """The ``streamlit run …/main.py -- --db PATH`` command line with headless settings."""
    import sys

    app_path = app_path or APP_MAIN
    if not app_path.is_file():
        raise StoreError(
            f"the app script {app_path} is missing.",
            "Reinstall cx-text: the app ships inside the package (cx_text/app/streamlit).",
        )
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.port",
        str(int(port)),
        "--server.address",
        host,
        "--server.maxUploadSize",
        str(int(max_upload_mb)),
        "--client.toolbarMode",
        "viewer",  # analysts: no "Deploy" button, no developer menu
        "--",
        "--db",
        str(db_path),
    ]
