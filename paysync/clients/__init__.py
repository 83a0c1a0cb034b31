"""Outbound HTTP, one package per provider (``xero/``, ``wise/``, ``connectwise/``): a transport
for one credential and one module per resource, the only code that knows the provider's
paths, query parameters and envelopes. ``http.py`` is what the transports share (budget,
retries, 429 feedback, Decimal JSON)."""
