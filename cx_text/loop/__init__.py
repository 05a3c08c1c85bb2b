"""cx_text.loop.service."""
