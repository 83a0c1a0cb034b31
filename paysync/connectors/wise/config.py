"""The Wise install config: validated whole, every problem reported at once naming its field.

Fields (JSON, Formance's names)::

    apiKey            required; encrypted at rest, never logged, never in a task payload
    webhookPublicKey  required; a PEM RSA public key (Wise's webhook signing key)
    pageSize          default 25, 1..100 (transfers page size; offsets stay a multiple of it)
    pollingPeriod     default "30m"; a duration, never below PAYSYNC_WISE_MIN_POLLING
    baseUrl           default https://api.wise.com (the sandbox: http://127.0.0.1:PORT/wise)
    publicUrl         optional; where Wise delivers webhooks. Wise's rules: https, port 443, a
                      domain name (no IP address), no query string, a certificate from a
                      public CA (checked by ``paysync doctor``). A loopback http URL (the
                      sandbox's deliveries) only with PAYSYNC_WISE_LOOPBACK_WEBHOOKS=1, never
                      in production.
    limits            optional {"minuteLimit": int, "minuteSeconds": number, "concurrency": int}
                      for this connector's bucket (Wise publishes no limits)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from paysync import limits as text_limits
from paysync.connectors.wise import settings as wise_settings
from paysync.errors import ConfigError

DEFAULT_BASE_URL = "https://api.wise.com"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
DEFAULT_POLLING = "30m"
FIELDS = ("apiKey", "webhookPublicKey", "pageSize", "pollingPeriod", "baseUrl", "publicUrl", "limits")
LIMIT_FIELDS = ("minuteLimit", "minuteSeconds", "concurrency")


class WiseConfigError(ConfigError):
    """Every problem of one config; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        listed = "; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items()))
        super().__init__(f"invalid Wise config ({len(self.errors)} problem{'s' if len(errors) > 1 else ''}): {listed}")


@dataclass(frozen=True)
class WiseConfig:
    api_key: str = field(repr=False)
    webhook_public_key: str
    page_size: int
    polling_period: timedelta
    polling_text: str
    base_url: str
    public_url: str | None
    limits: dict[str, Any] | None

    def public(self) -> dict[str, Any]:
        """What is stored in connectors.config: everything but the secret."""
        out: dict[str, Any] = {"pageSize": self.page_size, "pollingPeriod": self.polling_text,
                               "baseUrl": self.base_url, "webhookPublicKey": self.webhook_public_key}
        if self.public_url:
            out["publicUrl"] = self.public_url
        if self.limits:
            out["limits"] = self.limits
        return out

    def secrets(self) -> dict[str, Any]:
        return {"apiKey": self.api_key}


def _url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    parsed = urlparse(value.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return None
    return value.strip().rstrip("/")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def public_url_problem(value: str) -> str | None:
    """The Wise webhook URL rule ``value`` breaks (a message naming it), or None."""
    import ipaddress

    parsed = urlparse(value.strip())
    host = (parsed.hostname or "").lower()
    if parsed.scheme not in ("http", "https") or not host:
        return f"must be an https URL, got {value!r}"
    if host in LOOPBACK_HOSTS and wise_settings.loopback_webhooks():
        return None
    if parsed.scheme != "https":
        return f"must use https: Wise delivers webhooks over HTTPS only (got {value!r})"
    try:
        ipaddress.ip_address(host)
        return f"must name a domain, not an IP address: Wise does not deliver to IP addresses (got {value!r})"
    except ValueError:
        pass
    if host in LOOPBACK_HOSTS or "." not in host:
        return f"must be a public domain name Wise can reach (got {value!r})"
    try:
        port = parsed.port
    except ValueError:
        return f"has an unreadable port (got {value!r})"
    if port not in (None, 443):
        return f"must use port 443: Wise delivers webhooks to port 443 only (got {value!r})"
    if parsed.query or value.strip().endswith("?"):
        return f"must not carry a query string: Wise refuses callback URLs with one (got {value!r})"
    if parsed.fragment:
        return f"must not carry a fragment (got {value!r})"
    return None


def _rsa_pem(value: Any) -> str | None:
    """None when ``value`` is a PEM RSA public key, else what is wrong with it."""
    if not isinstance(value, str) or not value.strip():
        return "is required: the PEM RSA public key Wise signs webhooks with"
    if "-----BEGIN" not in value:
        return "must be a PEM public key (-----BEGIN PUBLIC KEY-----...)"
    try:
        key = load_pem_public_key(value.strip().encode())
    except (ValueError, TypeError) as exc:
        return f"is not a readable PEM public key ({str(exc).splitlines()[0] if str(exc) else 'unreadable'})"
    if not isinstance(key, rsa.RSAPublicKey):
        return f"must be an RSA public key, got {type(key).__name__.lstrip('_')}"
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def parse_config(raw: Any) -> WiseConfig:
    """Validate an install config; raises :class:`WiseConfigError` listing every problem."""
    if not isinstance(raw, dict):
        raise WiseConfigError({"config": "must be a JSON object"})
    errors: dict[str, str] = {}
    for key in raw:
        if key not in FIELDS:
            errors[str(key)] = f"unknown field (known: {', '.join(FIELDS)})"

    api_key = raw.get("apiKey")
    if not isinstance(api_key, str) or not api_key.strip():
        errors["apiKey"] = "is required: a Wise API token"

    problem = _rsa_pem(raw.get("webhookPublicKey"))
    if problem:
        errors["webhookPublicKey"] = problem

    page_size = DEFAULT_PAGE_SIZE
    if raw.get("pageSize") is not None:
        size = _int(raw["pageSize"])
        if size is None or not 1 <= size <= MAX_PAGE_SIZE:
            errors["pageSize"] = f"must be a whole number from 1 to {MAX_PAGE_SIZE}, got {raw['pageSize']!r}"
        else:
            page_size = size

    polling_text = raw.get("pollingPeriod") or DEFAULT_POLLING
    polling = timedelta(minutes=30)
    try:
        polling = wise_settings.parse_duration(polling_text)
        floor = wise_settings.min_polling()
        if polling < floor:
            errors["pollingPeriod"] = (f"{polling_text!r} is below the deployment minimum "
                                       f"{wise_settings.format_duration(floor)} (PAYSYNC_WISE_MIN_POLLING)")
    except ValueError as exc:
        errors["pollingPeriod"] = str(exc)

    base_url = DEFAULT_BASE_URL
    if raw.get("baseUrl") is not None:
        parsed = _url(raw["baseUrl"])
        if parsed is None:
            errors["baseUrl"] = f"must be an http(s) URL, got {raw['baseUrl']!r}"
        else:
            base_url = parsed

    public_url = None
    if raw.get("publicUrl") not in (None, ""):
        public_url = _url(raw["publicUrl"])
        problem = public_url_problem(str(raw["publicUrl"])) if isinstance(raw["publicUrl"], str) else None
        if public_url is None:
            errors["publicUrl"] = f"must be an https URL, got {raw['publicUrl']!r}"
        elif problem:
            errors["publicUrl"] = problem

    limits = None
    if raw.get("limits") is not None:
        lim = raw["limits"]
        if not isinstance(lim, dict):
            errors["limits"] = "must be an object with minuteLimit, minuteSeconds, concurrency"
        else:
            limits = {}
            for key, value in lim.items():
                where = f"limits.{key}"
                if key not in LIMIT_FIELDS:
                    errors[where] = f"unknown field (known: {', '.join(LIMIT_FIELDS)})"
                elif key == "minuteSeconds":
                    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                        errors[where] = f"must be a positive number, got {value!r}"
                    else:
                        limits[key] = value
                else:
                    number = _int(value)
                    if number is None or number < 1:
                        errors[where] = f"must be a whole number of at least 1, got {value!r}"
                    else:
                        limits[key] = number
    for name, limit in (("apiKey", text_limits.API_KEY), ("webhookPublicKey", text_limits.PUBLIC_KEY_PEM),
                        ("baseUrl", text_limits.URL), ("publicUrl", text_limits.URL)):
        too_long = text_limits.problem(raw.get(name), name, limit)
        if too_long:
            errors[name] = too_long.split(" ", 1)[1]
    if errors:
        raise WiseConfigError(errors)
    return WiseConfig(api_key=str(api_key).strip(), webhook_public_key=str(raw["webhookPublicKey"]).strip(),
                      page_size=page_size, polling_period=polling, polling_text=polling_text,
                      base_url=base_url, public_url=public_url, limits=limits or None)
