import socket


def free_port() -> int:
    """A local TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, *, seconds: float = 30, process=None) -> None:
    """Until ``url`` answers (any status); fails early if ``process`` (a Popen) exited."""
    import time

    import pytest
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            if process is not None and process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}")
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {seconds} s")
