"""cx_text.reports."""
