"""Wise JSON -> normalized records, one module per capability (pure, no I/O).

accounts (v4 balances -> INTERNAL accounts), balances (same payload), recipients
(v1/v2 -> EXTERNAL accounts), payments (v1 transfers, legs, settlement), webhooks
(state changes, balance updates, refunds), others (profiles, quotes). Records are in
``records``; input is JSON parsed with ``mappers.jsonnum`` (numbers as Decimal).
"""
