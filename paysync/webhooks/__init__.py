"""The webhook receiver: ``POST /webhooks/wise/{connector_id}`` verifies, stores, enqueues.

``verify`` checks Wise's RSA-SHA256 signature with the connector's ``webhookPublicKey``
(cached per connector for a short time), ``app`` is the Flask app, ``server`` serves it
with waitress (``paysync webhooks serve``). See docs/webhooks.md.
"""
