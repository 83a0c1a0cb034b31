from storage import sync_states
from storage.db import transaction


def test_watermark_is_read_advanced_and_reset(db):
    # given nothing stored
    assert sync_states.get("connector:1", "transfers", "profile:7") is None
    # when a watermark is advanced twice
    sync_states.advance("connector:1", "transfers", "profile:7", {"offset": 25})
    sync_states.advance("connector:1", "transfers", "profile:7", {"offset": 50})
    sync_states.advance("connector:1", "recipients", "profile:7", {"seek": 3})
    # then the latest is read back, per stream and scope
    assert sync_states.get("connector:1", "transfers", "profile:7") == {"offset": 50}
    assert sync_states.get("connector:1", "transfers", "profile:8") is None
    assert len(sync_states.list_states("connector:1")) == 2
    # and reset forgets one stream or all
    assert sync_states.reset("connector:1", "recipients") == 1
    assert sync_states.reset("connector:1") == 1
    assert sync_states.get("connector:1", "transfers", "profile:7") is None


def test_watermark_rolls_back_with_its_transaction(db):
    sync_states.advance("connector:1", "transfers", "", {"offset": 10})
    try:
        with transaction() as cur:
            sync_states.advance("connector:1", "transfers", "", {"offset": 20}, cur=cur)
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    assert sync_states.get("connector:1", "transfers", "") == {"offset": 10}
