"""The Airflow pieces that need no Airflow: ``kldrift airflow init``, connections, waiting, which errors are final.

Run in the pytest process (which never imports Airflow); the DAGs these files
make run in ``test_airflow_native.py``.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from helpers import one_error, write_parquet

from kldrift import cli
from kldrift.airflow.tasks import data_ready, is_permanent
from kldrift.config import load_config
from kldrift.connections import connection_url, parse_connection
from kldrift.errors import ConfigError, NoDataError, OutputError, ProfileError, SchemaError, SourceError
from kldrift.interval import Interval
from kldrift.jobsections import Webhook
from kldrift.outputs.webhook import deliver

TOKEN = "s3cr3t-T0KEN-xyz"


def test_init_writes_a_two_line_dag_file_and_a_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dags = tmp_path / "dags"
    assert cli.main(["airflow", "init", str(dags)]) == 0
    code = [
        line
        for line in (dags / "kldrift_dags.py").read_text().splitlines()
        if line.strip() and not line.startswith('"""')
    ]
    assert code == ["from kldrift.airflow import drift_dags", 'drift_dags("kldrift")']
    assert "drift_config_errors" in (dags / "kldrift_config_errors.py").read_text()
    sample = dags / "kldrift" / "trips.yaml.sample"
    renamed = sample.with_name("trips.yaml")
    renamed.write_text(sample.read_text())
    config = load_config(renamed)  # the sample is a valid config once renamed
    assert (config.alerts.fail_on, config.airflow.wait) == ("critical", 3600)
    # It points at the reference of every key beside it (from the package: a pip user has it), not the repository.
    assert "example.yaml.sample beside this file" in sample.read_text()
    assert "configs/example.yaml" not in sample.read_text()
    example = dags / "kldrift" / "example.yaml.sample"
    assert example.read_text().startswith("# Every key of a kldrift job config")
    assert "configs/example.yaml" not in example.read_text()
    assert load_config(example.rename(example.with_name("example.yaml"))).dataset == "trips"  # valid as it is
    out = capsys.readouterr().out
    assert f"wrote {dags / 'kldrift_dags.py'}" in out


def test_init_keeps_existing_files_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "kldrift_config_errors.py").write_text("# mine\n")
    assert cli.main(["airflow", "init", str(dags)]) == 2
    assert one_error(capsys.readouterr().err) == (
        f"{dags / 'kldrift_config_errors.py'}: already there (give --force to overwrite)"
    )
    assert not (dags / "kldrift_dags.py").exists()  # nothing written: never half a set
    assert cli.main(["airflow", "init", str(dags), "--force", "--demo"]) == 0
    assert (dags / "kldrift" / "demo.yaml").is_file()
    demo = load_config(dags / "kldrift" / "demo.yaml")
    assert demo.dataset == "demo"
    # the demo's days end yesterday (UTC): a DAG switched on today with catchup off scores a day that is there
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    assert (dags / "kldrift" / "current" / f"dt={yesterday.isoformat()}").is_dir()
    assert demo.start_date == yesterday - dt.timedelta(days=6)
    assert demo.catchup is False
    (tmp_path / "file").write_text("")
    assert cli.main(["airflow", "init", str(tmp_path / "file")]) == 2
    assert one_error(capsys.readouterr().err).endswith("file: not a folder (expected Airflow's dags folder)")


@pytest.mark.parametrize(
    ("value", "url"),
    [
        # Airflow's JSON form: host, port, scheme in `schema`, the path in `password`
        (
            f'{{"conn_type": "http", "host": "127.0.0.1", "port": 9, "schema": "http", "password": "hooks/{TOKEN}"}}',
            f"http://127.0.0.1:9/hooks/{TOKEN}",
        ),
        # Slack style: host with a path, the token as password, https by default
        (f"slackwebhook://:{TOKEN}@hooks.slack.com%2Fservices", f"https://hooks.slack.com/services/{TOKEN}"),
        # the whole URL in extra.webhook_url (URI query form)
        (
            f"http://?webhook_url=https%3A%2F%2Fchat.example%2Fh%3Ftoken%3D{TOKEN}",
            f"https://chat.example/h?token={TOKEN}",
        ),
        (
            f'{{"conn_type": "http", "extra": "{{\\"webhook_url\\": \\"https://x.example/{TOKEN}\\"}}"}}',
            f"https://x.example/{TOKEN}",
        ),
    ],
)
def test_a_connection_gives_the_webhook_url(monkeypatch: pytest.MonkeyPatch, value: str, url: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KLDRIFT_HOOK", value)
    assert connection_url("kldrift_hook") == url


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "alerts.webhook.conn_id: connection 'kldrift_hook' not found: set AIRFLOW_CONN_KLDRIFT_HOOK (outside"),
        ("{not json", "alerts.webhook.conn_id: AIRFLOW_CONN_KLDRIFT_HOOK is not a connection URI or JSON: "),
        ("no-scheme", "alerts.webhook.conn_id: AIRFLOW_CONN_KLDRIFT_HOOK is not a connection URI or JSON: expected"),
        ('{"conn_type": "http"}', "alerts.webhook.conn_id: connection 'kldrift_hook' holds no webhook URL: it has"),
        ("[1]", "alerts.webhook.conn_id: AIRFLOW_CONN_KLDRIFT_HOOK is not a connection URI or JSON: "),
    ],
)
def test_a_bad_connection_is_named_never_shown(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str
) -> None:
    if value is not None:
        monkeypatch.setenv("AIRFLOW_CONN_KLDRIFT_HOOK", value)
    else:
        monkeypatch.delenv("AIRFLOW_CONN_KLDRIFT_HOOK", raising=False)
    with pytest.raises(ConfigError) as info:
        connection_url("kldrift_hook")
    assert str(info.value).startswith(expected)


def test_parse_connection_reads_airflows_uri_form() -> None:
    fields = parse_connection("http://user:p%40ss@example.com:8080/path?a=1")
    assert {k: fields[k] for k in ("host", "port", "login", "password", "schema")} == {
        "host": "example.com",
        "port": 8080,
        "login": "user",
        "password": "p@ss",
        "schema": "path",
    }
    assert fields["extra"] == {"a": "1"}


@pytest.fixture
def sink() -> Iterator[tuple[int, list[Any]]]:
    received: list[Any] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], received
    server.shutdown()


def test_a_webhook_by_conn_id_posts_and_never_records_the_url(
    sink: tuple[int, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, received = sink
    monkeypatch.setenv(
        "AIRFLOW_CONN_KLDRIFT_HOOK",
        json.dumps({"host": "127.0.0.1", "port": port, "schema": "http", "password": f"h/{TOKEN}"}),
    )
    record = deliver(Webhook(conn_id="kldrift_hook"), {"text": "hi"})
    assert record["ok"] is True
    assert received == [(f"/h/{TOKEN}", {"text": "hi"})]
    assert TOKEN not in json.dumps(record)
    monkeypatch.delenv("AIRFLOW_CONN_KLDRIFT_HOOK")
    record = deliver(Webhook(conn_id="kldrift_hook"), {"text": "hi"})
    assert (record["ok"], record["url"]) == (False, "connection kldrift_hook")
    # a connection whose URL is not http(s): named, the URL itself not shown (it may hold the token)
    monkeypatch.setenv("AIRFLOW_CONN_KLDRIFT_HOOK", json.dumps({"extra": {"webhook_url": f"ftp://h/{TOKEN}"}}))
    record = deliver(Webhook(conn_id="kldrift_hook"), {"text": "hi"})
    error = record["attempts"][0]["error"]
    assert error.startswith("alerts.webhook.conn_id: kldrift_hook does not hold a usable URL: expected an http")
    assert TOKEN not in json.dumps(record)


def test_errors_a_retry_cannot_fix_are_final() -> None:
    assert all(is_permanent(e) for e in (ConfigError("x"), SchemaError("x"), ProfileError("x")))
    assert is_permanent(NoDataError("reference: no such path"))
    assert not is_permanent(OutputError("disk full"))  # space is freed, endpoints come back
    assert not is_permanent(RuntimeError("?"))  # a bug or Airflow's own trouble: retried as Airflow would
    # whether a retry helps is said where the error is raised, from what failed there
    for cause, transient in IO_FAILURES.values():
        error = SourceError.io("x", cause)
        assert (error.transient, is_permanent(error)) == (transient, not transient), cause
        assert error.__cause__ is None  # not read from the chain: a re-raise `from None` keeps it


# What pyarrow and the OS raise (messages as seen here), and whether a retry may help.
IO_FAILURES: dict[str, tuple[BaseException, bool]] = {
    "timeout": (TimeoutError(110, "timed out"), True),
    "removed-while-read": (FileNotFoundError(2, "No such file or directory"), True),
    "s3-503": (
        OSError(
            "When listing objects under key 'c/' in bucket 'lake': AWS Error SLOW_DOWN during ListObjectsV2 "
            "operation: Please reduce your request rate."
        ),
        True,
    ),
    "s3-unreachable": (
        OSError(
            "When getting information for key 'cur' in bucket 'lake': AWS Error NETWORK_CONNECTION during "
            "HeadObject operation: curlCode: 7, Could not connect to server"
        ),
        True,
    ),
    "s3-denied": (OSError("AWS Error ACCESS_DENIED during ListObjectsV2 operation: Access Denied"), False),
    "s3-no-bucket": (OSError("AWS Error NO_SUCH_BUCKET during HeadBucket operation: no such bucket"), False),
    "s3-403": (OSError("AWS Error UNKNOWN (HTTP status 403) during HeadObject operation: No response body."), False),
    "s3-429": (OSError("AWS Error UNKNOWN (HTTP status 429) during GetObject operation: Too Many Requests"), True),
    "permission": (PermissionError(13, "Permission denied"), False),
    "corrupt-footer": (OSError("Couldn't deserialize thrift: No more data to read."), False),
    "corrupt-page": (OSError("Corrupt snappy compressed data."), False),
    "not-parquet": (pa.ArrowInvalid("Parquet magic bytes not found in footer."), False),
}


def test_a_file_removed_while_it_is_read_is_transient_and_a_corrupt_one_is_not(tmp_path: Path) -> None:
    from kldrift.histogram import count
    from kldrift.pipeline import fit
    from kldrift.sources import open_source

    path = write_parquet(tmp_path / "a.parquet", pa.table({"x": [1.0, 2.0, 3.0]}))
    profile = fit(path)
    scan = open_source(path)  # listed and its footer read: then the file goes
    path.unlink()
    with pytest.raises(SourceError, match=r"a\.parquet: no such file \(it was removed while reading\)$") as info:
        count(profile.spec, scan)
    assert info.value.transient
    assert not is_permanent(info.value)
    path.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")  # pyarrow: OSError("Couldn't deserialize thrift: ...")
    with pytest.raises(SourceError, match=r"a\.parquet: not a readable Parquet file: Couldn't deserialize") as info:
        open_source(path)
    assert is_permanent(info.value)


def test_the_current_partition_s_errors_keep_their_class_and_whether_a_retry_helps(tmp_path: Path) -> None:
    from kldrift.interval import Interval
    from kldrift.partitions import current_scan

    path = tmp_path / "job.yaml"
    path.write_text("dataset: w\nreference: r/\ncurrent: 'c/dt={ds}/'\noutput: o/\n")
    config, day = load_config(path), Interval.for_date("2026-07-15")
    with pytest.raises(NoDataError, match=r"^current data for 2026-07-15: .*c/dt=2026-07-15: no such file") as info:
        current_scan(config, day)
    assert not info.value.transient
    (tmp_path / "c" / "dt=2026-07-15").mkdir(parents=True)
    (tmp_path / "c" / "dt=2026-07-15" / "a.parquet").write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")
    with pytest.raises(SourceError, match=r"^current data for 2026-07-15: .*a\.parquet: not a readable") as info:
        current_scan(config, day)
    assert is_permanent(info.value)
    assert isinstance(info.value.__cause__, SourceError)  # the first error stays in the chain (-v shows it)
    again = NoDataError("s3://b/c/: AWS Error NETWORK_CONNECTION", transient=True).again("current data for d")
    assert (type(again), str(again), again.transient) == (
        NoDataError,
        "current data for d: s3://b/c/: AWS Error NETWORK_CONNECTION",
        True,
    )


def test_waiting_for_data_stops_when_it_is_there_or_at_the_deadline(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("dataset: w\nreference: r/\ncurrent: 'c/dt={day}/'\noutput: o/\nairflow: {wait: 3600}\n")
    day = Interval.for_date("2026-07-15")
    end = day.end
    done, why = data_ready(str(path), day, now=end)
    assert done is False
    assert (
        why == f"w 2026-07-15: waiting until {(end + dt.timedelta(hours=1)).isoformat()} for {tmp_path}/c/dt=2026-07-15"
    )
    done, why = data_ready(str(path), day, now=end + dt.timedelta(hours=1))
    assert done is True
    assert why == f"w 2026-07-15: stopped waiting at {(end + dt.timedelta(hours=1)).isoformat()}; not there: " + (
        f"{tmp_path}/c/dt=2026-07-15"
    )
    write_parquet(tmp_path / "c" / "dt=2026-07-15" / "a.parquet", pa.table({"x": [1.0]}))
    assert data_ready(str(path), day, now=end) == (True, "w 2026-07-15: the current data is there")
    # a weekly interval over daily partitions waits for every day
    path.write_text(
        "dataset: w\nreference: r/\ncurrent: 'c/dt={day}/'\noutput: o/\nschedule: '@weekly'\nairflow: {wait: 60}\n"
    )
    week = load_config(path).schedule_of().for_date("2026-07-15")
    done, why = data_ready(str(path), week, now=week.end)
    assert done is False
    assert why.endswith(
        f"for {tmp_path}/c/dt=2026-07-12, {tmp_path}/c/dt=2026-07-13, {tmp_path}/c/dt=2026-07-14 and 3 more"
    )


@pytest.mark.parametrize(
    ("airflow", "expected"),
    [
        ("{poke_interval: 5}", "airflow.poke_interval: expected greater than or equal to 30"),
        ("{wait: -1}", "airflow.wait: expected greater than or equal to 0"),
        ("{execution_timeout: 0}", "airflow.execution_timeout: expected greater than 0"),
    ],
)
def test_bad_airflow_settings_are_config_errors(tmp_path: Path, airflow: str, expected: str) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(f"dataset: a\nreference: r/\ncurrent: 'c/{{ds}}/'\noutput: o/\nairflow: {airflow}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: {expected}")
