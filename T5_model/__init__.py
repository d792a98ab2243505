"""T5_model package."""
