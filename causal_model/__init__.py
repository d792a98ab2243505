"""causal_model package: decoder-only language models (AutoModelForCausalLM) on the task folders."""
