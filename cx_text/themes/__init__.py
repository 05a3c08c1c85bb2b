"""cx_text.themes.service."""
