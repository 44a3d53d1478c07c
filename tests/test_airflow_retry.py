"""Issue 20, finding 3: an object store that refuses the first listing of a partition makes Airflow retry.

A real S3-compatible server (moto, on 127.0.0.1) behind a proxy that answers ``503 SlowDown`` to the
first listing of the current partition, as S3 does under load; a real ``dag.test()`` run in a child
process (see ``airflow_support``). The error is raised while listing the current data; it says it is
transient where it is raised, so the task is retried (once) and the run succeeds, instead of failing
at once as a bad input would.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from airflow_support import DAGS, FlakyProxy, airflow_env, run_scenario, write_config

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

DAY = "2026-11-23"  # the logical date 2026-11-24 scores it
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3(demo_data: Path) -> Iterator[tuple[str, Path]]:
    """moto on 127.0.0.1 holding the demo's current partition under ``s3://lake/current/``; the local data."""
    data = demo_data
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_ENV["AWS_DEFAULT_REGION"],
    )
    client.create_bucket(Bucket="lake")
    for part in sorted((data / "current" / f"dt={DAY}").iterdir()):
        buf = io.BytesIO()
        pq.write_table(pq.read_table(part), buf)
        client.put_object(Bucket="lake", Key=f"current/dt={DAY}/{part.name}", Body=buf.getvalue())
    try:
        yield endpoint, data
    finally:
        server.stop()


@pytest.fixture(scope="module")
def run(s3: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], FlakyProxy]:
    endpoint, data = s3
    root = tmp_path_factory.mktemp("retry-run")
    proxy = FlakyProxy(endpoint, prefix=f"current/dt={DAY}")  # every attempt of the first listing: 503
    configs = root / "configs"
    write_config(configs, "lake", data, root / "out", airflow="{retries: 1, retry_delay: 1}")
    config = configs / "lake.yaml"
    config.write_text(config.read_text().replace(f"current: {data}/current/", "current: s3://lake/current/"))
    dags = root / "dags"
    dags.mkdir()
    (dags / "kldrift_dags.py").symlink_to(DAGS / "kldrift_dags.py")
    env = airflow_env(root / "airflow", dags=dags, configs=configs, AWS_ENDPOINT_URL=proxy.url, **S3_ENV)
    env.pop("AWS_PROFILE", None)
    try:
        result = run_scenario(
            "dag_test", {"dags": str(dags), "runs": [["kldrift__lake", "2026-11-24"]]}, env, timeout=480
        )
    finally:
        proxy.close()
    return result["runs"]["kldrift__lake@2026-11-24"], proxy


def test_a_refused_listing_is_retried_once_and_the_run_succeeds(run: tuple[dict[str, Any], FlakyProxy]) -> None:
    dag_run, proxy = run
    assert dag_run["state"] == "success", dag_run["tasks"]
    assert dag_run["tasks"]["plan_shards[-1]"] == {
        **dag_run["tasks"]["plan_shards[-1]"],
        "state": "success",
        "try_number": 2,
    }
    others = {k: v["try_number"] for k, v in dag_run["tasks"].items() if not k.startswith("plan_shards")}
    assert set(others.values()) == {1}, others  # only the task that listed the partition was retried
    listings = [(status, attempt) for method, path, status, attempt in proxy.log if "list-type" in path]
    refused = [attempt for status, attempt in listings if status == 503]
    assert len(refused) > 1  # the SDK retried the listing itself before pyarrow raised
    assert [a.rpartition("attempt=")[2] for a in refused] == [str(i + 1) for i in range(len(refused))]  # one call
    assert listings[len(refused)] == (200, "attempt=1")  # the task's retry: a new call, which goes through
    summary = dag_run["xcom"]["score_and_write[-1]:return_value"]
    assert summary["date"] == DAY
    assert summary["n_current"] > 0
