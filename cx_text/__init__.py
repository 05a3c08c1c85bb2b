"""cx_text: turn Russian and English customer feedback into CX decisions.

The library holds all logic; ``cli.py`` and the Streamlit app only call it.
Data flows one way (see docs/ARCHITECTURE.md):

ingest -> normalize (+PII) -> langid -> nlp -> classify -> store -> metrics/themes -> app/report/loop
"""

__version__ = "0.1.0"
