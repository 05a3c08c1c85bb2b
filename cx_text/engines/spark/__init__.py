"""cx_text.engines.spark.engine."""
