"""Object stores: ``s3://`` sources read over HTTP from a real S3-compatible server on 127.0.0.1.

moto's server mode speaks the S3 REST API; pyarrow's S3 filesystem finds it
through ``AWS_ENDPOINT_URL``, and credentials come from the usual environment
variables, as they would for AWS.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import kldrift
from kldrift.errors import SourceError
from kldrift.sources import open_source

pytestmark = pytest.mark.slow  # real processes, servers or kills: `make test` runs it, `make test-fast` not

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

SECRET = "s3cr3t-never-logged-0123456789"


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing-key",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


def _put(client: Any, bucket: str, key: str, table: pa.Table, **kw: Any) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)
    client.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())


def _table(rng: np.random.Generator, n: int, shift: float) -> pa.Table:
    return pa.table(
        {
            "x": rng.normal(shift, 1.0, n),
            "c": pa.array(rng.choice(["a", "b", "c"], n)).dictionary_encode(),
        }
    )


@pytest.fixture(scope="module")
def bucket(s3_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    client = boto3.client("s3")
    client.create_bucket(Bucket="lake")
    rng = np.random.default_rng(11)
    ref_parts = [_table(rng, 3000, 0.0) for _ in range(3)]
    for i, t in enumerate(ref_parts):
        _put(client, "lake", f"trips/reference/part-{i}.parquet", t, row_group_size=1000)
    cur = _table(rng, 4000, 1.0)
    _put(client, "lake", "trips/current/dt=2026-11-23/part-0.parquet", cur, row_group_size=1000)
    local = tmp_path_factory.mktemp("s3copy")
    pq.write_table(pa.concat_tables(ref_parts), local / "ref.parquet")
    pq.write_table(cur, local / "cur.parquet")
    return {"client": client, "local": local}


def test_s3_compare_equals_the_same_files_read_locally(bucket: dict[str, Any]) -> None:
    remote = kldrift.compare("s3://lake/trips/reference/", "s3://lake/trips/current/dt=2026-11-23/")
    local = kldrift.compare(bucket["local"] / "ref.parquet", bucket["local"] / "cur.parquet")
    # Same rows, same bins: the object store changes nothing in the numbers.
    cols = ["feature", "n_reference", "n_current", "kl", "kl_reverse", "psi", "jensen_shannon", "p_value"]
    assert remote.to_pandas()[cols].equals(local.to_pandas()[cols])
    assert remote["x"].severity == "critical"  # +1 sd shift


def test_s3_listing_finds_every_part_and_shards_split_them(bucket: dict[str, Any]) -> None:
    scan = open_source("s3://lake/trips/reference/")
    assert [f.path for f in scan.files] == [f"s3://lake/trips/reference/part-{i}.parquet" for i in range(3)]
    assert scan.count_rows() == 9000
    assert scan.shards(3) == [[f] for f in scan.files]
    one = open_source("s3://lake/trips/current/dt=2026-11-23/")
    # One file of 4 row groups still fans out to 2 shards, by row-group ranges.
    assert [[u.label for u in s] for s in one.shards(2)] == [
        ["s3://lake/trips/current/dt=2026-11-23/part-0.parquet#row_groups=0-2"],
        ["s3://lake/trips/current/dt=2026-11-23/part-0.parquet#row_groups=2-4"],
    ]


def test_s3_missing_prefix_is_a_one_line_source_error(bucket: dict[str, Any]) -> None:
    with pytest.raises(SourceError, match=r"^s3://lake/trips/current/dt=2026-11-30/: no such file or directory$"):
        kldrift.compare("s3://lake/trips/reference/", "s3://lake/trips/current/dt=2026-11-30/")


def test_s3_run_through_the_cli_never_logs_credentials(bucket: dict[str, Any], tmp_path: Path) -> None:
    cfg = tmp_path / "lake.yaml"
    cfg.write_text(
        "dataset: lake\nreference: s3://lake/trips/reference/\ncurrent: s3://lake/trips/current/dt={ds}/\n"
        f"output: {tmp_path / 'out'}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "kldrift.cli", "-vv", "run", "--config", str(cfg), "--date", "2026-11-23"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "out" / "lake" / "dt=2026-11-23"
    alerts = [json.loads(line) for line in (run_dir / "alerts.jsonl").read_text().splitlines()]
    assert [a["feature"] for a in alerts if a["check"] == "drift"] == ["x"]
    written = "".join(p.read_text(errors="replace") for p in run_dir.iterdir() if p.suffix in {".json", ".jsonl"})
    assert SECRET not in proc.stdout + proc.stderr + written
    assert "testing-key" not in proc.stdout + proc.stderr + written


def test_credentials_in_the_uri_reach_no_file_and_no_log(
    bucket: dict[str, Any], s3_env: dict[str, str], tmp_path: Path
) -> None:
    # Keys in the URI itself, and options in its query (not a glob: `?` there starts the query).
    host = s3_env["AWS_ENDPOINT_URL"].split("://", 1)[1]
    creds = f"testing-key:{SECRET}@"
    query = f"?endpoint_override={host}&scheme=http&region=us-east-1"
    cfg = tmp_path / "lake.yaml"
    cfg.write_text(
        f"dataset: lake\nreference: 's3://{creds}lake/trips/reference/{query}'\n"
        f"current: 's3://{creds}lake/trips/current/dt={{ds}}/{query}'\noutput: {tmp_path / 'out'}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # the URI alone must do
    proc = subprocess.run(
        [sys.executable, "-m", "kldrift.cli", "-vv", "run", "--config", str(cfg), "--date", "2026-11-23"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"profile.json", "manifest.json", "alerts.jsonl", "metrics.parquet"}
    for p in written:
        assert SECRET.encode() not in p.read_bytes(), p
    assert SECRET not in proc.stdout + proc.stderr
    profile = json.loads((tmp_path / "out" / "lake" / "profile.json").read_text())
    assert profile["source"].startswith("s3://***@lake/trips/reference/?endpoint_override=")
    # a wrong key in the URI: the error names the source without the secret
    cfg.write_text(cfg.read_text().replace("/reference/", "/nowhere/"))
    proc = subprocess.run(
        [sys.executable, "-m", "kldrift.cli", "run", "--config", str(cfg), "--date", "2026-11-23"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert SECRET not in proc.stderr
    assert "s3://***@lake/trips/nowhere/" in proc.stderr
