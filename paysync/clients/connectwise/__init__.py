"""ConnectWise Manage: ``client.py`` is the transport for one PSA connection (auth, budget,
paging by ``Link`` headers, errors); one module per resource (``invoices``, ``accounting``
for the Accounting Interface, ``companyinfo``) with plain functions taking a
:class:`ConnectWiseClient`."""

from paysync.clients.connectwise.client import ConnectWiseClient
from paysync.clients.connectwise.companyinfo import discover_codebase

__all__ = ["ConnectWiseClient", "discover_codebase"]
