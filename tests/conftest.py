"""Shared fixtures. Stand-ins run in-process on free loopback ports (pipeline.sandbox.harness)."""
from __future__ import annotations

import os

import pytest

# Real SDKs honour proxy variables; the stand-ins are always on loopback.
os.environ["no_proxy"] = os.environ["NO_PROXY"] = "127.0.0.1,localhost"


@pytest.fixture
def kubecache(tmp_path, monkeypatch):
    """kubectl caches discovery for 6 h per host:port; give each test its own cache."""
    monkeypatch.setenv("KUBECACHEDIR", str(tmp_path / "kubecache"))
    return tmp_path / "kubecache"
