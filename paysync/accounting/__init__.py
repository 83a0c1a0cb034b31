"""The books side of paysync (Xero): onboarding, "download latest" and "make a payment".

Domain code called by the thin tasks in ``tasks/accounting.py`` and by the command line;
every call to Xero goes through :class:`paysync.clients.xero.XeroClient`, every SQL
statement through ``storage``.
"""
