"""Coatro's common package: everything the Cloud Functions share.

Entry points in `functions/<name>/main.py` stay thin and call into this package.
"""
