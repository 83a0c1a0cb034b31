"""The webhook receiver of the previous design, for ``bench/bench_webhooks.py`` only: what
``paysync webhooks serve`` serves, but handing each stored delivery to translation by
publishing its own ``wise.translate_webhook`` job before the answer (``send_translate``, with
its short retry), instead of the drain trigger. Not a product path: the product receiver
always hands off to a drain (``paysync/webhooks/handoff.py``).

    .venv/bin/python bench/receiver_per_delivery.py --port PORT [--threads N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    from paysync.webhooks import app as receiver
    from paysync.webhooks import server
    from tasks.webhooks import send_translate

    product_app = receiver.create_app

    def per_delivery_app(settings: Any = None, publish: Any = None, key_loader: Any = None) -> Any:
        return product_app(settings, send_translate, key_loader)

    # the server builds its app from this module attribute when it starts: same server, same
    # settings, only the hand-off differs
    receiver.create_app = per_delivery_app  # type: ignore[assignment]
    print(f"webhook receiver (a job per delivery) on http://{args.host}:{args.port}", file=sys.stderr)
    server.serve(host=args.host, port=args.port, threads=args.threads)


if __name__ == "__main__":
    main()
