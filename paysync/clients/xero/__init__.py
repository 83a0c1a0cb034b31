"""Xero: ``client.py`` is the transport for one connection (auth, tenant header, budget, 401
refresh, 403 re-authorisation), ``oauth.py`` the tokens (refreshed once across workers) and
URLs; one module per resource (``invoices``, ``payments``, ``contacts``, ``organisation``,
``connections``) with plain functions taking a :class:`XeroClient`. ``envelopes.py`` and
``paging.py`` read and build what those resources share (lists, pagination, errors)."""

from paysync.clients.xero.client import XeroClient
from paysync.clients.xero.oauth import ReauthRequired, XeroUrls

__all__ = ["ReauthRequired", "XeroClient", "XeroUrls"]
