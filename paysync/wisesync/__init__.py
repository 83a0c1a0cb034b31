"""Wise-Sync: ConnectWise invoices to Xero (``invoices``), Xero payments back (``payments``).

Both directions run over the merchant's **company** connection to Xero when
multi-connection is on and over its primary connection when off
(``storage.connections.resolve(merchant_id, "company")``, read at run time), and over the
PSA connection's own ConnectWise bucket. See ``docs/wisesync.md``.
"""
