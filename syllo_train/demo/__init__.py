"""The embedded demo: SYLLO puzzles (its data) and a tiny model built locally (no hub)."""
