"""The orders dataset: CDC events of an orders table, merged into current state."""
