"""cx_text.io."""
