"""dataloader package."""
