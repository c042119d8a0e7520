"""The storage tiers: one module per backend, sync and async classes side by side; registry.py lists them."""
