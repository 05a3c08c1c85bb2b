"""cx_text.store.store."""
