"""cx_text.core."""
