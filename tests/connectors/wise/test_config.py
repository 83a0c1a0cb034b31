"""Install config: defaults, limits, and every problem reported at once naming its field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from paysync.connectors.wise.config import WiseConfigError, parse_config
from paysync.connectors.wise.settings import parse_duration


def test_defaults_are_formance_s(rsa_pem):
    # given only the required fields
    cfg = parse_config({"apiKey": "tok-XYZ-987", "webhookPublicKey": rsa_pem})
    # then the seed's defaults apply
    assert cfg.page_size == 25
    assert cfg.polling_period == timedelta(minutes=30)
    assert cfg.base_url == "https://api.wise.com"
    assert "apiKey" not in cfg.public() and cfg.secrets() == {"apiKey": "tok-XYZ-987"}
    assert "tok-XYZ-987" not in repr(cfg)


def test_every_problem_is_reported_at_once_naming_its_field(ec_pem, monkeypatch):
    monkeypatch.setenv("PAYSYNC_WISE_MIN_POLLING", "5m")
    # given a config wrong in many ways
    raw = {"webhookPublicKey": ec_pem, "pageSize": 101, "pollingPeriod": "1m", "baseUrl": "ftp://x",
           "publicUrl": "not a url", "limits": {"minuteLimit": 0, "burst": 3}, "colour": "blue"}
    # when it is validated
    with pytest.raises(WiseConfigError) as err:
        parse_config(raw)
    # then each problem names its field, all in one error
    errors = err.value.errors
    assert set(errors) == {"apiKey", "webhookPublicKey", "pageSize", "pollingPeriod", "baseUrl", "publicUrl",
                           "limits.minuteLimit", "limits.burst", "colour"}
    assert "RSA" in errors["webhookPublicKey"]
    assert "5m" in errors["pollingPeriod"] and "PAYSYNC_WISE_MIN_POLLING" in errors["pollingPeriod"]
    assert "1 to 100" in errors["pageSize"]
    for field in errors:
        assert field in str(err.value)


@pytest.mark.parametrize("key, says", [
    ("hello", "PEM"),
    ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "readable PEM"),
    ("", "required"),
])
def test_a_bad_webhook_key_is_refused_saying_so(key, says):
    with pytest.raises(WiseConfigError) as err:
        parse_config({"apiKey": "k", "webhookPublicKey": key})
    assert says in err.value.errors["webhookPublicKey"]


def test_page_size_bounds_and_limits_are_kept(rsa_pem):
    cfg = parse_config({"apiKey": "k", "webhookPublicKey": rsa_pem, "pageSize": 100, "pollingPeriod": "1h30m",
                        "limits": {"minuteLimit": 30, "concurrency": 2}, "publicUrl": "https://hooks.example.com/"})
    assert cfg.page_size == 100 and cfg.polling_period == timedelta(minutes=90)
    assert cfg.public()["limits"] == {"minuteLimit": 30, "concurrency": 2}
    assert cfg.public_url == "https://hooks.example.com"
    with pytest.raises(WiseConfigError, match="pageSize"):
        parse_config({"apiKey": "k", "webhookPublicKey": rsa_pem, "pageSize": 0})


def test_durations():
    assert parse_duration("45s") == timedelta(seconds=45)
    assert parse_duration("3d") == timedelta(days=3)
    for bad in ("", "30", "m30", "1x", "1h 30m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize("url, rule", [
    ("http://hooks.example.com", "must use https"),
    ("https://203.0.113.7", "not an IP address"),
    ("http://203.0.113.7:8780", "must use https"),
    ("https://[2001:db8::1]", "not an IP address"),
    ("https://hooks.example.com:8443", "port 443"),
    ("https://hooks.example.com/wise?token=abc", "query string"),
    ("https://localhost", "public domain"),
])
def test_a_public_url_breaking_wises_rules_is_refused_at_install_naming_the_rule(
        url, rule, rsa_pem, db, redis_client, monkeypatch):
    from paysync.connectors.wise.install import install
    from storage import connectors, merchants

    monkeypatch.delenv("PAYSYNC_WISE_LOOPBACK_WEBHOOKS", raising=False)
    merchants.create("acme")
    # when a connector is installed with it (no call to Wise is made: the config fails first)
    with pytest.raises(WiseConfigError) as err:
        install("acme", {"apiKey": "k", "webhookPublicKey": rsa_pem, "publicUrl": url})
    # then the error names the field and the rule, and nothing was stored
    assert rule in err.value.errors["publicUrl"] and "publicUrl" in str(err.value)
    assert connectors.list_all() == []


def test_loopback_public_urls_only_with_the_sandbox_switch_and_never_in_production(rsa_pem, monkeypatch):
    raw = {"apiKey": "k", "webhookPublicKey": rsa_pem, "publicUrl": "http://127.0.0.1:8780"}
    monkeypatch.delenv("PAYSYNC_WISE_LOOPBACK_WEBHOOKS", raising=False)
    with pytest.raises(WiseConfigError, match="https"):
        parse_config(raw)
    monkeypatch.setenv("PAYSYNC_WISE_LOOPBACK_WEBHOOKS", "1")
    assert parse_config(raw).public_url == "http://127.0.0.1:8780"
    # a routable IP stays refused with the switch on
    with pytest.raises(WiseConfigError, match="not an IP address"):
        parse_config(dict(raw, publicUrl="https://203.0.113.7"))
    monkeypatch.setenv("PAYSYNC_ENV", "production")
    from paysync.errors import ConfigError

    with pytest.raises(ConfigError, match="PAYSYNC_WISE_LOOPBACK_WEBHOOKS"):
        parse_config(raw)
