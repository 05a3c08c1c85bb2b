"""cx_text.cli.main."""
from cx_text.cli.main import main

__all__ = ["main"]
