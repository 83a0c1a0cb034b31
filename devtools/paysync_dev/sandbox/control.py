"""A small client for the sandbox (used by tests, the demo and benchmarks).

- the sandbox's own control API (``/_sandbox``: health, reset, clock, counters, faults, effects);
- each provider's control routes (``/wise/_control``, ``/xero/_control``,
  ``/connectwise/_control``): what a test or the demo sets up or reads behind paysync's back;
- a few provider API calls made as someone other than paysync (a Wise user paying out from
  their own account, a bookkeeper's app entering bills in Xero), so that paysync has
  something to notice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests

from mappers import jsonnum


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, f"{self.base_url}/_sandbox{path}", json=body, timeout=self.timeout)
        resp.raise_for_status()
        return resp.json()

    def _provider(self, method: str, provider: str, path: str, body: Any = None, timeout: float | None = None,
                  headers: dict[str, str] | None = None, params: dict[str, Any] | None = None) -> requests.Response:
        """One call to ``/<provider><path>``; the body goes as JSON with exact numbers."""
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = jsonnum.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        resp = self.http.request(method, f"{self.url(provider)}{path}", data=data, headers=sent, params=params,
                                 timeout=timeout or self.timeout)
        resp.raise_for_status()
        return resp

    # ------------------------------------------------------------ the sandbox

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def reset(self, seed: int = 0, size: dict[str, Any] | None = None, scale: float | None = None,
              lenient: bool | None = None) -> dict[str, Any]:
        """Forget everything and seed again; ``lenient`` switches the providers' rules off (or on)."""
        body: dict[str, Any] = {"seed": seed, "size": size or {}}
        if scale is not None:
            body["scale"] = scale
        if lenient is not None:
            body["lenient"] = lenient
        return self._call("POST", "/reset", body)

    def now(self) -> float:
        return self._call("GET", "/clock")["now"]

    def advance(self, seconds: float) -> float:
        return self._call("POST", "/clock", {"advance": seconds})["now"]

    def set_scale(self, scale: float) -> None:
        self._call("POST", "/clock", {"scale": scale})

    def counters(self, prefix: str = "") -> dict[str, int]:
        resp = self.http.get(f"{self.base_url}/_sandbox/counters", params={"prefix": prefix}, timeout=self.timeout)
        resp.raise_for_status()
        return resp.json()

    def reset_counters(self) -> None:
        self._call("POST", "/counters/reset")

    def url(self, provider: str) -> str:
        return f"{self.base_url}/{provider}"

    # ------------------------------------------------------------ faults and effects

    def fault(self, provider: str, kind: str, method: str = "*", path: str = "*", *, nth: int = 1,
              times: int = 1, status: int | None = None, delay: float | None = None) -> dict[str, Any]:
        """Inject a fault (``paysync_dev.sandbox.faults``): ``kind`` one of ``error``, ``reset``,
        ``apply_then_timeout``, ``apply_then_reset``, ``slow``; on the ``nth`` call from now that
        matches ``method`` and ``path`` (below the provider's prefix, ``*`` wildcards) and the
        ``times - 1`` after it. Returns the rule with its ``id``."""
        body: dict[str, Any] = {"provider": provider, "kind": kind, "method": method, "path": path, "nth": nth,
                                "times": times}
        if status is not None:
            body["status"] = status
        if delay is not None:
            body["delay"] = delay
        return self._call("POST", "/faults", body)

    def faults(self) -> list[dict[str, Any]]:
        """Every rule set since the last clear, with how many calls it ``seen`` and ``fired`` on."""
        return self._call("GET", "/faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def effects(self, prefix: str = "") -> dict[str, int]:
        """What the providers hold now, counted (``paysync_dev.sandbox.effects``)."""
        resp = self.http.get(f"{self.base_url}/_sandbox/effects", params={"prefix": prefix}, timeout=self.timeout)
        resp.raise_for_status()
        return resp.json()

    # ------------------------------------------------------------ Wise: control

    def wise_users(self) -> list[dict[str, Any]]:
        """The seeded Wise users: ``token`` and their ``profiles``."""
        return self._provider("GET", "wise", "/_control/tokens").json()

    def wise_config(self, **changes: Any) -> dict[str, Any]:
        """Change the Wise stand-in's behaviour (``bounce_share``, ...); returns the config."""
        return self._provider("POST", "wise", "/_control/config", changes).json()

    def wise_set_balance(self, balance_id: int | str, amount: int | Decimal) -> dict[str, Any]:
        """Set a balance's amount (in the balance's major units, as the control route takes it)."""
        return self._provider("POST", "wise", f"/_control/balances/{balance_id}", {"amount": amount}).json()

    def wise_transfer(self, transfer_id: int | str) -> dict[str, Any]:
        """A transfer as the control route shows it: ``transfer``, ``funded``, history and schedule."""
        return self._provider("GET", "wise", f"/_control/transfers/{transfer_id}").json()

    def wise_script_transfer(self, transfer_id: int | str, steps: list[list[Any]]) -> dict[str, Any]:
        """Replace a transfer's coming states with ``steps`` (``[state, seconds from now]``)."""
        return self._provider("POST", "wise", f"/_control/transfers/{transfer_id}/script", {"steps": steps}).json()

    def wise_webhook_public_key(self) -> str:
        """The PEM public key the sandbox signs its webhook deliveries with."""
        return self._provider("GET", "wise", "/_control/webhook-public-key").text

    def wise_webhooks_config(self, **changes: Any) -> dict[str, Any]:
        """Change how webhooks are delivered (``paused``, ``duplicate_share``, ...); returns the config."""
        return self._provider("POST", "wise", "/_control/webhooks/config", changes).json()

    def wise_flush_webhooks(self, include_future: bool = False, timeout: float = 60) -> dict[str, Any]:
        """Deliver what is due now (``include_future``: also what waits or is held back, each once)."""
        body: dict[str, Any] = {"all": True} if include_future else {}
        return self._provider("POST", "wise", "/_control/webhooks/flush", body, timeout=timeout).json()

    # ------------------------------------------------------------ Wise: a user's own calls

    def wise_recipients(self, token: str, profile_id: int | str) -> list[dict[str, Any]]:
        """The profile's recipients (``GET /v1/accounts``), as the user sees them."""
        return self._provider("GET", "wise", "/v1/accounts", params={"profile": profile_id},
                              headers={"Authorization": f"Bearer {token}"}).json()

    def wise_send_from_balance(self, token: str, profile_id: int | str, recipient_id: int | str,
                               source_currency: str, target_currency: str, source_amount: Decimal,
                               customer_transaction_id: str) -> dict[str, Any]:
        """A payout the user makes in Wise itself (not through paysync): quote, transfer, fund
        from the balance. Returns the transfer."""
        auth = {"Authorization": f"Bearer {token}"}
        quote = self._provider("POST", "wise", f"/v3/profiles/{profile_id}/quotes", {
            "sourceCurrency": source_currency, "targetCurrency": target_currency, "sourceAmount": source_amount,
            "payIn": "BALANCE"}, headers=auth).json()
        transfer = self._provider("POST", "wise", "/v1/transfers", {
            "targetAccount": recipient_id, "quoteUuid": quote["id"],
            "customerTransactionId": customer_transaction_id}, headers=auth).json()
        self._provider("POST", "wise", f"/v3/profiles/{profile_id}/transfers/{transfer['id']}/payments",
                       {"type": "BALANCE"}, headers=auth)
        return transfer

    # ------------------------------------------------------------ Xero: control

    def xero_register_app(self, client_id: str, redirect_uris: list[str], kind: str = "granular",
                          client_secret: str | None = None) -> dict[str, Any]:
        """Register an app as in Xero's developer portal: its exact redirect URIs and its kind
        (``granular``: created from March 2026; ``legacy``: may still ask for the broad scopes)."""
        return self._provider("POST", "xero", "/_control/apps", {
            "client_id": client_id, "redirect_uris": redirect_uris, "kind": kind,
            "client_secret": client_secret}).json()

    def xero_consent(self, authorize_url: str) -> str:
        """Open Xero's authorize page as a browser would and consent (the sandbox consents at once);
        returns the address the browser is sent to (the redirect URI with ``code`` and ``state``),
        which is what a person pastes back to ``paysync connections authorize --paste``."""
        resp = self.http.get(authorize_url, allow_redirects=False, timeout=self.timeout)
        if resp.status_code != 302:
            raise RuntimeError(f"the authorize page answered {resp.status_code}: {resp.text[:300]}")
        return resp.headers["Location"]

    def xero_remove_scopes(self, client_id: str, scopes: list[str]) -> int:
        """Take scopes away from the app's grants (its tokens lose them); returns the grants changed."""
        return self._provider("POST", "xero", f"/_control/apps/{client_id}/narrow", {"remove": scopes}).json()["grants"]

    def xero_calls(self) -> dict[str, dict[str, dict[str, int]]]:
        """The Xero stand-in's counters: app (client id) -> tenant -> {"calls", "429", ...}."""
        return self._provider("GET", "xero", "/_control/stats").json()["calls"]

    def xero_invoice(self, invoice_id: str) -> dict[str, Any]:
        return self._provider("GET", "xero", f"/_control/invoices/{invoice_id}").json()

    def xero_pay_invoice(self, invoice_id: str, reference: str) -> dict[str, Any]:
        """Pay an invoice in full inside Xero (as someone in the books would); returns the payment."""
        return self._provider("POST", "xero", f"/_control/invoices/{invoice_id}/pay",
                              {"reference": reference}).json()

    # ------------------------------------------------------------ Xero: another app's own calls

    def xero_grant(self, client_id: str, tenants: list[str]) -> str:
        """Authorise an app of someone else's on ``tenants`` (no OAuth dance); returns its access token."""
        return self._provider("POST", "xero", "/_control/grant",
                              {"client_id": client_id, "tenants": tenants}).json()["access_token"]

    def xero_put_invoices(self, access_token: str, tenant_id: str,
                          invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create invoices (``PUT /api.xro/2.0/Invoices``) with that app's token; returns them as Xero does."""
        resp = self._provider("PUT", "xero", "/api.xro/2.0/Invoices", {"Invoices": invoices},
                              headers={"Authorization": f"Bearer {access_token}", "xero-tenant-id": tenant_id})
        return jsonnum.decode(resp)["Invoices"]

    # ------------------------------------------------------------ ConnectWise: control

    def connectwise_invoice(self, invoice_id: int | str) -> dict[str, Any]:
        return self._provider("GET", "connectwise", f"/_control/invoices/{invoice_id}").json()

    def connectwise_stats(self) -> dict[str, Any]:
        return self._provider("GET", "connectwise", "/_control/stats").json()
