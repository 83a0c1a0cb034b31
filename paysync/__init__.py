"""paysync: keeps a payments platform in step with Wise, Xero and ConnectWise."""

__version__ = "0.1.0"
