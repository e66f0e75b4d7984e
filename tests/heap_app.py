"""A minimal app that answers with its process's garbage-collector state (tests/test_heap.py)."""

import gc
import json


def _state() -> bytes:
    return json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()}).encode()


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [_state()]


async def asgi_application(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": _state()})
