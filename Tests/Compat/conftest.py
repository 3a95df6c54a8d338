"""Shared fixtures for the compatibility suite: the folio binary under test."""
import os
import pathlib
import pytest


@pytest.fixture(scope="session")
def folio_binary() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("FOLIO_BINARY", ".build/release/folio"))
    assert path.exists(), f"folio binary not found at {path}; scripts/test builds it"
    return path
