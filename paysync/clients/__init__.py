"""Outbound HTTP, one module per provider; ``http.py`` is what they share (budget, retries)."""
