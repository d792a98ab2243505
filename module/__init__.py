"""module package."""
