"""Engines that run the tagging pipeline over files: local (streaming, resumable) and Spark."""
