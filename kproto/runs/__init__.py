"""The run folder: its layout (every file name once), atomic writes and bounded reads, safe loading, the listing.

This package's `__init__` imports nothing, so the low-level `store` and `layout` modules can be used from any layer.
"""
