"""cx_text.app."""
