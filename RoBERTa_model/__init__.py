"""RoBERTa_model package."""
