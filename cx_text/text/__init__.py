"""cx_text.text."""
