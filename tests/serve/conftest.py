"""The service the serve tests call: one ``reasonrank serve`` per test module."""
from __future__ import annotations

import pytest
from reasonrank.testing.servers.reasonrank_server import serve


@pytest.fixture(scope="module")
def server(request):
    """The base URL of a ``reasonrank serve`` started with the module's ``SERVE_ARGS`` (usually
    :func:`~reasonrank.testing.servers.reasonrank_server.scripted_args`), shared by its tests."""
    with serve(request.module.SERVE_ARGS) as url:
        yield url
