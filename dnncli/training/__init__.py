"""The training loop, its optimizers and its history."""
