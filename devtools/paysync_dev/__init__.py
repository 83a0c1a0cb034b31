"""paysync's development tools, installed apart from the product (``pip install -e ./devtools``).

- :mod:`paysync_dev.sandbox`: local stand-ins for the Wise, Xero and ConnectWise APIs and
  their control API, served by ``paysync sandbox``;
- :mod:`paysync_dev.demo`: the main job end to end against the sandbox (``paysync demo``);
- :mod:`paysync_dev.devstack`: local processes (sandbox, workers, beat, the webhook
  receiver) and scratch databases for the demo, the tests and the benchmarks.

A production install of paysync carries none of it.
"""
