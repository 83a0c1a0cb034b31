"""Connectors: one package per provider, one module per capability (Formance's layout).

``wise/``: install config, install/uninstall/reset, accounts, balances, external accounts,
payments (polling with watermarks), others, initiations (transfers and payouts).
Tasks in ``tasks/wise.py`` and ``tasks/connectors.py`` call into these modules; SQL lives in
``storage/connectors.py`` and ``storage/wise/``; HTTP in ``paysync/clients/wise``.
"""
