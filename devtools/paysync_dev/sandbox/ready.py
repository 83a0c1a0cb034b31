"""The sandbox's ready-to-use values, so it can be used without reading its code (like stripe-mock).

``paysync sandbox`` prints them when it starts; ``paysync sandbox env`` writes them for a
running sandbox into a folder:

- ``wise.json``: a Wise install config (a seeded user's API token, the sandbox's Wise base
  URL, the public key it signs webhooks with);
- ``env.sh``: ``PAYSYNC_XERO_*_URL`` pointing at the sandbox's Xero (so ``connections
  authorize`` needs no ``--base-url``), ``PAYSYNC_CLIENT_SECRET`` (the app secret ``connections
  add`` would prompt for: the sandbox registers an unknown app on first use with the first
  secret it sees), ``PAYSYNC_SANDBOX_URL``;
- the ConnectWise login (site, company, API member keys, any client id);

and prints :data:`WALKTHROUGH`, the README's "Using it, step by step" commands, which run as
written once ``env.sh`` is sourced (``tests/e2e/test_operators.py`` runs them).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

XERO_APP = "sandbox-user-app"
XERO_SECRET = "sandbox-secret"
CONNECTWISE_CLIENT_ID = "sandbox-client"

#: The README's step-by-step commands against the sandbox (after ``source sandbox/env.sh``).
WALKTHROUGH = """\
paysync merchants create acme
paysync connections add --merchant acme --role user --client-id sandbox-user-app   # secret: PAYSYNC_CLIENT_SECRET, else prompted
paysync connections authorize --connection acme/user --open          # OAuth2 code flow; --open: the sandbox consents at once
paysync merchants multi-connection on acme
paysync connections list --merchant acme
paysync invoices download --merchant acme                            # progress on stderr
paysync invoices list --merchant acme
paysync invoices pay --merchant acme --number INV-00001 --amount 125.50 --currency USD --account-code 090
paysync connectors install wise --config sandbox/wise.json --merchant acme
paysync connectors status acme                                       # the first sync's progress, streams and webhooks
paysync policy limit --merchant acme --currency USD --per-payment 5000.00 --per-day 20000.00   # payouts beyond it are refused
paysync senders add billing                                          # the application that sends payouts signs with this key
paysync balances list --connector acme
paysync payments list --connector acme
paysync initiations needing-action
paysync psa add --merchant acme --site "$PAYSYNC_SANDBOX_URL/connectwise" --company paysync_sandbox \\
    --client-id sandbox-client --public-key sandbox-public --private-key sandbox-private
paysync sync invoices --merchant acme && paysync sync payments --merchant acme
"""


def values(get: Callable[[str], Any], url: str) -> dict[str, Any]:
    """The ready values of the sandbox at ``url``; ``get(path)`` answers its JSON or text."""
    users = get("/wise/_control/tokens")
    public_key = get("/wise/_control/webhook-public-key")
    cw = get("/connectwise/_control/config")
    root = url.rstrip("/")
    user = users[0]
    return {
        "url": root,
        "wise": {"apiKey": user["token"], "baseUrl": f"{root}/wise", "pageSize": 25, "pollingPeriod": "1m",
                 "webhookPublicKey": public_key.strip() + "\n"},
        "wise_profiles": [str(p.get("id")) for p in user.get("profiles", [])],
        "xero": {"app": XERO_APP, "secret": XERO_SECRET, "base_url": f"{root}/xero",
                 "env": {"PAYSYNC_XERO_API_URL": f"{root}/xero/api.xro/2.0",
                         "PAYSYNC_XERO_CONNECTIONS_URL": f"{root}/xero",
                         "PAYSYNC_XERO_IDENTITY_URL": f"{root}/xero/identity",
                         "PAYSYNC_XERO_LOGIN_URL": f"{root}/xero/login"}},
        "connectwise": {"site": f"{root}/connectwise", "company": cw["company"], "public_key": cw["public_key"],
                        "private_key": cw["private_key"], "client_id": CONNECTWISE_CLIENT_ID},
    }


def from_url(url: str, timeout: float = 10.0) -> dict[str, Any]:
    import requests

    def get(path: str) -> Any:
        resp = requests.get(f"{url.rstrip('/')}{path}", timeout=timeout)
        resp.raise_for_status()
        return resp.json() if "json" in resp.headers.get("Content-Type", "") else resp.text

    return values(get, url)


def from_app(app: Any, url: str) -> dict[str, Any]:
    client = app.test_client()

    def get(path: str) -> Any:
        resp = client.get(path)
        return resp.get_json() if resp.is_json else resp.get_data(as_text=True)

    return values(get, url)


def env_lines(v: dict[str, Any]) -> list[str]:
    # development: this machine and the sandbox only (the published development key is accepted)
    env = {"PAYSYNC_ENV": "development", **v["xero"]["env"], "PAYSYNC_CLIENT_SECRET": v["xero"]["secret"],
           "PAYSYNC_SANDBOX_URL": v["url"]}
    return [f"export {k}={shlex.quote(str(val))}" for k, val in env.items()]


def describe(v: dict[str, Any]) -> str:
    """The values as a person reads them."""
    cw = v["connectwise"]
    return "\n".join([
        f"sandbox on {v['url']}: ready-to-use values (paysync sandbox env --url {v['url']} writes them)",
        f"  Wise       apiKey {v['wise']['apiKey']}  baseUrl {v['wise']['baseUrl']}  profiles "
        f"{', '.join(v['wise_profiles'])}",
        f"  Xero       base URL {v['xero']['base_url']}  app (client id) {v['xero']['app']}  secret "
        f"{v['xero']['secret']}  (any app id works: the first secret seen becomes its secret)",
        "             authorize with --open (the sandbox consents at once) and the PAYSYNC_XERO_*_URL of env.sh",
        f"  ConnectWise site {cw['site']}  company {cw['company']}  public key {cw['public_key']}  "
        f"private key {cw['private_key']}  client id: any ({cw['client_id']})",
    ])


def write(v: dict[str, Any], folder: Path) -> list[Path]:
    """``wise.json`` and ``env.sh`` in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    wise = folder / "wise.json"
    wise.write_text(json.dumps(v["wise"], indent=2) + "\n")
    env = folder / "env.sh"
    env.write_text("# paysync against the local sandbox: source this file\n" + "\n".join(env_lines(v)) + "\n")
    return [wise, env]
