"""Coatro command-line client: send POP events, upload bulk files, follow jobs."""

__version__ = "0.1.0"
