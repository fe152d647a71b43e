"""The S3-compatible test server's environment (see conftest.py for the server fixture)."""

import socket
from contextlib import contextmanager

import pytest

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Settings of the developer's machine that would point boto at a real account or a fixed lineage index.
AWS_UNSET = ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "CITRUS_LINEAGE_DB")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def s3_environment(mp: pytest.MonkeyPatch, endpoint: str, bucket: str, lake_url: str):
    """Dummy credentials, the endpoint and ``CITRUS_LAKE`` in the environment, and an empty bucket."""
    import boto3
    import s3fs

    for k in AWS_UNSET:
        mp.delenv(k, raising=False)
    for k, v in {**AWS_ENV, "AWS_ENDPOINT_URL": endpoint, "CITRUS_LAKE": lake_url}.items():
        mp.setenv(k, v)
    s3fs.S3FileSystem.clear_instance_cache()  # an instance cached before this endpoint was set
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    try:
        yield
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
