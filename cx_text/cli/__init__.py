"""The ``cx-text`` command line: one module per command group (entry point:
``cx_text.cli.main:main``)."""
