"""Another application sending tasks to paysync: Celery and the standard library, nothing of paysync.

Run as its own process (a test's in-process Celery app would share paysync's publish
signal). ``send_signed`` is the README's example, word for word (a test keeps them equal).

    python tests/trust/bare_sender.py BROKER_URL SENDS_JSON

``SENDS_JSON`` is a list of {"task", "payload", "key_id", "secret", "signed_at_offset",
"task_id", "timeout"}: without ``key_id`` the message goes unsigned; with a ``secret`` that is
not the key's, it is wrongly signed. Each is sent and waited for in turn; prints a JSON list
of {"task_id", "state", "result" or "error"}.
"""

import hashlib
import hmac
import json
import sys
import time
import uuid

from celery import Celery

KEY_ID, SECRET = "", ""
app = Celery("bare-sender")


def send_signed(name, payload, task_id=None, signed_at=None):
    task_id, signed_at = task_id or str(uuid.uuid4()), signed_at or int(time.time())
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    message = "\n".join(["paysync-task-v1", name, task_id, str(signed_at), body]).encode()
    signature = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    return app.send_task(name, kwargs=payload, task_id=task_id, headers={
        "paysync_key": KEY_ID, "paysync_signed_at": signed_at, "paysync_signature": signature})


def main() -> int:
    global KEY_ID, SECRET
    broker, sends = sys.argv[1], json.loads(sys.argv[2])
    app.conf.update(broker_url=broker, result_backend=broker)
    out = []
    for send in sends:
        if send.get("key_id"):
            KEY_ID, SECRET = send["key_id"], send["secret"]
            signed_at = int(time.time()) + int(send["signed_at_offset"]) if send.get("signed_at_offset") else None
            result = send_signed(send["task"], send["payload"], send.get("task_id"), signed_at)
        else:
            result = app.send_task(send["task"], kwargs=send["payload"], task_id=send.get("task_id"))
        try:
            value = result.get(timeout=send.get("timeout", 60), propagate=True)
            out.append({"task_id": result.id, "state": result.state, "result": value})
        except Exception as exc:  # noqa: BLE001 - reported to the test as it came
            out.append({"task_id": result.id, "state": result.state, "error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
