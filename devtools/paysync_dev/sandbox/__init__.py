"""The local sandbox: stand-ins for the Wise, Xero and ConnectWise APIs (like stripe-mock).

One HTTP server on loopback. Each provider is a :class:`~paysync_dev.sandbox.core.Provider`
mounted under its own prefix (``/xero``, ``/wise``, ``/connectwise``), so pointing
paysync at the sandbox is only a change of base URL. The control API under
``/_sandbox`` resets state, reads call counters, advances the virtual clock and seeds
randomness. The sandbox's state is its own, in memory; it never touches paysync's tables.
"""
