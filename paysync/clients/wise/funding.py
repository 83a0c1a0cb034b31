"""Funding: ``POST /v3/profiles/{profileId}/transfers/{transferId}/payments {"type": "BALANCE"}``.

A 2xx is not success: read ``status`` (COMPLETED or REJECTED, with ``errorCode``). A 403
with ``x-2fa-approval`` headers asks for strong customer authentication; it is returned,
not raised, so the caller can leave the initiation waiting for approval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mappers import jsonnum
from paysync.clients.http import BudgetedHTTP


@dataclass(frozen=True)
class Funding:
    status: str            # COMPLETED | REJECTED | SCA_REQUIRED
    error_code: str | None
    body: Any


def fund(client: BudgetedHTTP, profile_id: int | str, transfer_id: int | str) -> Funding:
    resp = client.request("POST", f"/v3/profiles/{profile_id}/transfers/{transfer_id}/payments",
                          json={"type": "BALANCE"}, ok=(403,),
                          idempotent=True)  # Wise refuses a second funding (transfer.invalid-state)
    body = jsonnum.loads(resp.content) if resp.content else None
    if resp.status_code == 403:
        if not resp.headers.get("x-2fa-approval"):
            raise client._error(resp, retriable=False)  # forbidden for another reason
        return Funding("SCA_REQUIRED", "sca.required", {"approval": resp.headers.get("x-2fa-approval"),
                                                       "body": body})
    status = str((body or {}).get("status") or "").upper()
    if status not in ("COMPLETED", "REJECTED"):
        status = "REJECTED" if (body or {}).get("errorCode") else status or "UNKNOWN"
    return Funding(status, (body or {}).get("errorCode"), body)
