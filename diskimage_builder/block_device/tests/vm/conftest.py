"""Fixtures of the VM tier's test modules."""
import contextlib

import pytest


@pytest.fixture
def cleanup():
    """Register teardown callbacks; all run in reverse, even if one fails."""
    with contextlib.ExitStack() as stack:
        yield stack.callback
