"""The model-based history test of the platform's promise (issue 15)."""
