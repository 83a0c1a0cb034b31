"""The limiter on a real Redis Cluster: every key of one acquire in one hash slot."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis
from redis.crc import key_slot
from redis.exceptions import RedisClusterException

from paysync.budgets import (
    BucketSpec,
    Limiter,
    Window,
    budget_settings,
    connectwise_bucket,
    shared_limiter,
    wise_bucket,
    xero_bucket,
)
from paysync.budgets.limiter import _keys
from paysync.redis_client import redis_client


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory):
    """A one-node Redis Cluster owning all 16384 slots: it refuses a command whose keys span
    slots exactly as a many-node one does."""
    from paysync_dev.devstack import free_port

    port, bus, folder = free_port(), free_port(), tmp_path_factory.mktemp("cluster")
    server = subprocess.Popen([shutil.which("redis-server"), "--bind", "127.0.0.1", "--port", str(port),
                               "--cluster-enabled", "yes", "--cluster-port", str(bus),
                               "--cluster-config-file", "nodes.conf", "--save", "",
                               "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    try:
        node = redis.Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=2)
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "the cluster node did not start"
            try:
                node.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        while b"cluster_state:ok" not in node.execute_command("CLUSTER", "INFO"):
            assert time.monotonic() < deadline, "the cluster did not come up"
            time.sleep(0.02)
        yield f"redis+cluster://127.0.0.1:{port}/0"
    finally:
        server.kill()
        server.wait(5)


def factory_buckets() -> list[BucketSpec]:
    return [xero_bucket("app-1", "tenant-1"), xero_bucket("app-1", "tenant-2"), wise_bucket(7),
            connectwise_bucket("psa-3")]


def test_every_key_of_a_factory_bucket_hashes_to_one_slot():
    for spec in factory_buckets():
        assert len({key_slot(k.encode()) for k in _keys(spec)}) == 1, spec.name


def test_the_limiter_runs_on_a_redis_cluster_one_script_per_acquire(cluster_url, monkeypatch):
    # given the limiter's Redis set to a cluster URL
    monkeypatch.setenv("PAYSYNC_LIMITER_REDIS_URL", cluster_url)
    budget_settings.cache_clear()
    try:
        limiter = shared_limiter()
        assert limiter.redis is redis_client(cluster_url) and limiter.redis is not redis_client()
        # then every operation works on every factory bucket
        for spec in factory_buckets():
            with limiter.lease(spec, interactive=True) as grant:
                assert grant.ok and limiter.remaining(spec).in_flight == 1
            assert limiter.acquire(spec, max_wait=1.0).ok
            assert limiter.observe_remaining(spec, "minute", 30) > 0
            limiter.block(spec, 0.2, "429")
            assert limiter.acquire(spec).reason == "blocked"
    finally:
        budget_settings.cache_clear()


def test_a_bucket_whose_keys_span_slots_is_refused_by_the_cluster(cluster_url):
    # the same check fails for keys without a common hash tag (so the guarantee is tested)
    spec = BucketSpec(name="untagged", key="untagged", windows=(Window("minute", "untagged:minute", 5, 1.0),),
                      concurrency=2)
    assert len({key_slot(k.encode()) for k in _keys(spec)}) > 1
    with pytest.raises(RedisClusterException, match="same key slot"):
        Limiter(redis_client(cluster_url)).acquire(spec)
