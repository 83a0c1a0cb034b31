"""The Xero side of one auto-payment job: its connection resolved once, its clients reused.

A job (``autopay.schedule`` for a merchant, ``autopay.execute`` for a scheduled payment)
creates one :class:`Books` and hands it down to every step that talks to Xero. The
connection the job's traffic uses is resolved on first need and then kept for the job, so
a multi-connection switch applies from the next job on, never half-way through one.
A payment written earlier keeps going through its own connection (:meth:`Books.client_for`).
"""

from __future__ import annotations

from paysync.clients.xero import XeroClient
from storage import connections
from storage.connections import Resolution


class Books:
    """The job's Xero connection (resolved once, on first need) and one client per connection."""

    def __init__(self, merchant_id: int, traffic: str, interactive: bool) -> None:
        self.merchant_id, self.traffic, self.interactive = merchant_id, traffic, interactive
        self._resolution: Resolution | None = None
        self._clients: dict[int, XeroClient] = {}

    def resolution(self) -> Resolution:
        """The connection ``traffic`` uses, resolved the first time it is asked for."""
        if self._resolution is None:
            self._resolution = connections.resolve(self.merchant_id, self.traffic)
        return self._resolution

    def client(self) -> XeroClient:
        """The client on the resolved connection."""
        conn = self.resolution().connection
        if conn.id not in self._clients:
            self._clients[conn.id] = XeroClient.for_connection(conn, interactive=self.interactive)
        return self._clients[conn.id]

    def client_for(self, connection_id: int | None) -> XeroClient:
        """The client on a given connection (a payment's own), or on the resolved one when None."""
        if connection_id is None:
            return self.client()
        if connection_id not in self._clients:
            self._clients[connection_id] = XeroClient.for_connection(connections.get(connection_id),
                                                                     interactive=self.interactive)
        return self._clients[connection_id]
