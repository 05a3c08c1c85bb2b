"""cx_text.analytics."""
