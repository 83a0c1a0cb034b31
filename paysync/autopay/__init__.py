"""Auto-payments: bills in Xero paid by Wise payouts and written back to Xero.

``rules`` (allow-list, limits, the decision, the dry run), ``scheduler`` (one scheduled
payment per bill), ``execution`` (the steps, exactly once), ``exceptions`` (what needs a
person). See docs/autopay.md.
"""
