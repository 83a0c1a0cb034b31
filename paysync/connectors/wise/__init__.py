"""The Wise connector (see docs/wise.md): one module per capability.

config (install config), install (install / uninstall / reset), accounts (+ balances from
the same payload), external_accounts (recipients), payments (transfers, watermarks,
re-polls), others (profiles, quotes), initiations (transfers and payouts), settings (env).
"""

PROVIDER = "wise"
