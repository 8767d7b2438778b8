"""Fixtures for cluster tests: three real nodes over mTLS gRPC on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from strongbox.testing import LocalCluster

FAST = 'max_staleness_s = 2.0\nindex_wait_s = 1.0\n'
LIMITS = '[limits]\nwrite_timeout_s = 4.0\n'


def make_cluster(directory: Path, **kwargs: object) -> LocalCluster:
    cluster = LocalCluster(directory, 3, fault_injection=True, extra_cluster_config=FAST,
                           extra_config=LIMITS, **kwargs)  # type: ignore[arg-type]
    cluster.start()
    cluster.init_and_unseal()
    return cluster


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A healthy cluster shared by non-destructive tests of a module."""
    cluster = make_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of the test's own, for tests that kill or partition nodes."""
    cluster = make_cluster(tmp_path / "cluster")
    try:
        yield cluster
    finally:
        cluster.stop()
