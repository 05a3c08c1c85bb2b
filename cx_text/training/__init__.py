"""cx_text.training.run."""
