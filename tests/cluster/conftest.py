"""One real Ray cluster for the cluster tests: a head with 2 CPUs started in this process (so it
ends with the test run) and reachable by commands run as child processes.

Ray asks for 127.0.0.1 but resolves it to this machine's address and listens on every interface,
so the cluster takes a fresh random token (Ray's token authentication, passed in the environment:
nothing is written to the home folder) and only this test run can use it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

RAY_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    saved = {key: os.environ.get(key) for key in RAY_ENV}
    os.environ.update(RAY_ENV)
    import ray  # after the environment is set: Ray reads the token once

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="WARNING",
        log_to_driver=False,
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
