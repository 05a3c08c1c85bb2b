"""cx_text: turn Russian and English customer feedback into CX decisions.

The library API (the CLI and the app only call it; see README "As a library")::

    import cx_text
    tagger = cx_text.load()                          # models load once, offline
    tagged = tagger.tag(df, text_col="comment")      # rows in = rows out
    cx_text.tag_file("export.xlsx", "tagged.parquet", db="cx.duckdb")
    cx_text.open_store("cx.duckdb").metrics(by="topic")

Data flows one way, and the package tree is that flow (docs/ARCHITECTURE.md):
io -> text -> classify -> engines -> store -> analytics -> themes -> loop -> reports -> app / cli
"""

from cx_text.api import StoreReader, Tagger, load, open_store, tag_file
from cx_text.core.config import Settings
from cx_text.core.errors import (
    ConfigError,
    CxTextError,
    IngestError,
    LoopError,
    ModelError,
    RunError,
    SchemaError,
    StoreError,
    TaxonomyError,
)
from cx_text.core.version import __version__

__all__ = [
    "ConfigError",
    "CxTextError",
    "IngestError",
    "LoopError",
    "ModelError",
    "RunError",
    "SchemaError",
    "Settings",
    "StoreError",
    "StoreReader",
    "Tagger",
    "TaxonomyError",
    "__version__",
    "load",
    "open_store",
    "tag_file",
]
