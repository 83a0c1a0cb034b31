"""Bucket factories: keyed by what each provider counts, limits from the environment."""

from __future__ import annotations

import pytest

from paysync.budgets import Limiter, budget_settings, connectwise_bucket, wise_bucket, xero_bucket
from paysync.config import settings
from paysync.errors import ConfigError


@pytest.fixture
def env(monkeypatch):
    """Set budget variables for one test; the settings are read again afterwards."""
    budget_settings.cache_clear()
    settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    budget_settings.cache_clear()
    settings.cache_clear()


def test_xero_defaults_follow_the_published_limits(env):
    # given no budget variables and a 30 s HTTP timeout
    for name in ("PAYSYNC_XERO_MINUTE_LIMIT", "PAYSYNC_LIMIT_MARGIN", "PAYSYNC_LEASE_SECONDS",
                 "PAYSYNC_INTERACTIVE_RESERVE", "PAYSYNC_XERO_DAY_LIMIT", "PAYSYNC_XERO_CONCURRENCY",
                 "PAYSYNC_SUBWINDOWS", "PAYSYNC_DAY_RESERVE_FLOOR"):
        env.delenv(name, raising=False)
    env.setenv("PAYSYNC_HTTP_TIMEOUT", "30")
    # when a Xero bucket is built
    spec = xero_bucket("client", "tenant")
    # then it counts 60 a minute, 5000 a day, 10000 a minute per app and 5 in flight
    assert {w.name: (w.limit, w.seconds, w.margin) for w in spec.windows} == {
        "minute": (60, 60.0, 1), "day": (5000, 86400.0, 1), "app_minute": (10000, 60.0, 1)}
    assert (spec.concurrency, spec.reserve, spec.lease_seconds) == (5, 0.2, 5.0)
    # and the minute keeps a sliding log, the day and the app window 100 sub-windows each
    assert {w.name: w.subwindows for w in spec.windows} == {"minute": 0, "day": 100, "app_minute": 100}
    # and the day's reserve follows demand from a floor of 5% (250 calls) up to 20% (1000)
    assert spec.reserve_of(spec.window("day")) == (1000, 250)
    assert spec.reserve_of(spec.window("minute")) == (12, 12)


def test_tenants_of_one_app_share_the_app_window_and_nothing_else(env):
    one, two, other_app = xero_bucket("a", "t1"), xero_bucket("a", "t2"), xero_bucket("b", "t1")
    assert one.window("app_minute").key == two.window("app_minute").key != other_app.window("app_minute").key
    assert one.window("minute").key != two.window("minute").key != other_app.window("minute").key
    assert len({one.leases_key, two.leases_key, other_app.leases_key}) == 3
    # and every key of one app sits in one Redis Cluster slot
    assert all("{xero:a}" in w.key for w in one.windows + two.windows)


def test_limits_come_from_the_environment(env):
    # given shortened, lowered limits
    env.setenv("PAYSYNC_XERO_MINUTE_LIMIT", "7")
    env.setenv("PAYSYNC_XERO_MINUTE_SECONDS", "2")
    env.setenv("PAYSYNC_XERO_DAY_LIMIT", "1000")
    env.setenv("PAYSYNC_LIMIT_MARGIN", "0")
    env.setenv("PAYSYNC_LIMIT_MARGIN_SECONDS", "0.1")
    env.setenv("PAYSYNC_INTERACTIVE_RESERVE", "0.5")
    env.setenv("PAYSYNC_LEASE_SECONDS", "40")
    env.setenv("PAYSYNC_WISE_MINUTE_LIMIT", "30")
    env.setenv("PAYSYNC_CONNECTWISE_CONCURRENCY", "2")
    # when buckets are built, then they use them
    xero = xero_bucket("c", "t")
    assert (xero.window("minute").limit, xero.window("minute").span) == (7, 2.1)
    assert (xero.window("day").limit, xero.window("app_minute").seconds) == (1000, 2.0)
    assert (xero.reserve, xero.lease_seconds) == (0.5, 40.0)
    assert wise_bucket(3).window("minute").limit == 30
    assert connectwise_bucket("psa-1").concurrency == 2
    # and PAYSYNC_SUBWINDOWS sets the long windows' counters, 0 keeping a log of every grant
    env.setenv("PAYSYNC_SUBWINDOWS", "10")
    budget_settings.cache_clear()
    assert {w.name: w.subwindows for w in xero_bucket("c", "t").windows} == {"minute": 0, "day": 10, "app_minute": 10}
    env.setenv("PAYSYNC_SUBWINDOWS", "0")
    budget_settings.cache_clear()
    assert {w.subwindows for w in xero_bucket("c", "t").windows} == {0}
    assert xero_bucket("c", "t").window("day").reserve_floor is None


def test_a_margin_larger_than_a_limit_leaves_one_call(env):
    env.setenv("PAYSYNC_WISE_MINUTE_LIMIT", "1")
    env.setenv("PAYSYNC_LIMIT_MARGIN", "3")
    assert wise_bucket(1).window("minute").usable == 1


@pytest.mark.parametrize("name, value", [
    ("PAYSYNC_XERO_MINUTE_LIMIT", "sixty"),
    ("PAYSYNC_XERO_CONCURRENCY", "0"),
    ("PAYSYNC_INTERACTIVE_RESERVE", "1"),
    ("PAYSYNC_LEASE_SECONDS", "0"),
    ("PAYSYNC_SUBWINDOWS", "125"),  # the counters hash would leave Redis's compact encoding
    ("PAYSYNC_DAY_RESERVE_FLOOR", "0.3"),  # above the 0.2 interactive reserve
])
def test_a_bad_value_names_the_variable(env, name, value):
    env.setenv("PAYSYNC_HTTP_TIMEOUT", "30")
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        xero_bucket("c", "t")


def test_a_factory_bucket_works_end_to_end(env, redis_client):
    # given Wise limited to 2 calls with no margin
    env.setenv("PAYSYNC_WISE_MINUTE_LIMIT", "2")
    env.setenv("PAYSYNC_LIMIT_MARGIN", "0")
    env.setenv("PAYSYNC_INTERACTIVE_RESERVE", "0")
    limiter, spec = Limiter(redis_client), wise_bucket(42)
    # then the third call in a minute is refused for about a minute
    assert limiter.acquire(spec).ok and limiter.acquire(spec).ok
    refused = limiter.acquire(spec)
    assert refused.reason == "minute" and 60 < refused.wait <= 61
