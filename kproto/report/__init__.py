"""What a person sees: rich tables (tables.py) and matplotlib figures (plots.py)."""
