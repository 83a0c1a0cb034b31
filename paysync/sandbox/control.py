"""A small client for the sandbox's control API (used by tests, the demo and benchmarks)."""

from __future__ import annotations

from typing import Any

import requests


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, f"{self.base_url}/_sandbox{path}", json=body, timeout=self.timeout)
        resp.raise_for_status()
        return resp.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def reset(self, seed: int = 0, size: dict[str, Any] | None = None, scale: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"seed": seed, "size": size or {}}
        if scale is not None:
            body["scale"] = scale
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
