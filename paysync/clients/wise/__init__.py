"""Wise HTTP client: ``client.py`` builds a budgeted session per connector; one module per
resource (profiles, balances, recipients, quotes, transfers, funding, subscriptions) with plain functions
taking that client and returning JSON parsed with Decimal numbers."""

from paysync.clients.wise.client import WiseClient, describe_error, for_connector

__all__ = ["WiseClient", "describe_error", "for_connector"]
