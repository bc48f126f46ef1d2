"""Foundations every layer uses: errors, the catalog of names and traits, recipe field bases, atomic files, backend setup."""
