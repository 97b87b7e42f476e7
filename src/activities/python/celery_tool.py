"""Talks to the app's Celery through the app's own Celery app (its task names, queues, serializer
and routing as the app defines them), for the stuck-imports runbook.

usage: python3 celery_tool.py <app> publish <task> <queue>
         reads "item_id task_id" lines on stdin; after each line "FLUSH" prints
         `CELERY_JSON {"published": n}` once the n messages since the last FLUSH are in the broker
         (the Redis transport publishes synchronously), so one process serves a whole re-enqueue;
         if the broker cannot be reached (after Celery's own publish retries) it prints
         `CELERY_JSON {"error": "broker-unavailable", "detail": ...}` and exits 3: the caller may retry
       python3 celery_tool.py <app> ping <timeout_s>      prints `CELERY_JSON {"replied": [...]}`
Run in the app's directory, with the broker URL in the variable the app reads.
"""
import json
import sys

from celery.app.utils import find_app
from kombu.exceptions import OperationalError

try:
    from redis.exceptions import ConnectionError as RedisConnectionError
except ImportError:  # a broker other than Redis
    RedisConnectionError = OperationalError

BROKER_DOWN = (OperationalError, RedisConnectionError, ConnectionError)


def main():
    app = find_app(sys.argv[1])
    mode = sys.argv[2]
    if mode == "publish":
        task, queue = sys.argv[3], sys.argv[4]
        published = 0
        try:
            with app.producer_or_acquire() as producer:
                for line in sys.stdin:
                    parts = line.split()
                    if parts == ["FLUSH"]:
                        print("CELERY_JSON " + json.dumps({"published": published}), flush=True)
                        published = 0
                    elif len(parts) == 2:
                        app.send_task(task, args=[int(parts[0])], task_id=parts[1], queue=queue, producer=producer)
                        published += 1
        except BROKER_DOWN as e:
            detail = f"{type(e).__name__}: {e}"
            print("CELERY_JSON " + json.dumps({"error": "broker-unavailable", "detail": detail}), flush=True)
            raise SystemExit(3)
    elif mode == "ping":
        replies = app.control.inspect(timeout=float(sys.argv[3])).ping() or {}
        print("CELERY_JSON " + json.dumps({"replied": sorted(replies)}))
    else:
        raise SystemExit(f"unknown mode {mode}")


main()
