"""An S3-compatible server for the object-storage tests: moto's ``ThreadedMotoServer`` on 127.0.0.1.

s3fs (through botocore) finds it by ``AWS_ENDPOINT_URL``; the credentials are dummies. Tests that use it
skip when moto or s3fs is not installed (the ``dev`` extra has both).
"""

import logging

import pytest

from tests.platform.s3_support import free_port


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 on 127.0.0.1 (a free port); yields the endpoint URL."""
    moto_server = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
