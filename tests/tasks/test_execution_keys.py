"""A claim's keys share one Redis Cluster hash slot, so its scripts can run on a cluster."""

from redis.crc import key_slot

from tasks.executions import _keys


def test_both_keys_of_a_claim_hash_to_one_slot() -> None:
    for task_id in ("6f1c1f36-8f0e-4d55-9d64-5a8a3b3f2a10", "a", "with:colons:and{braces}"):
        done, owner = _keys(task_id)
        assert key_slot(done.encode()) == key_slot(owner.encode()), task_id
