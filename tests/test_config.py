"""load_config: every validation problem is one line naming the file and the key path.

Also the pieces the config hands to a run: templates, relative paths,
intervals, and the errors of :mod:`kldrift.errors` and :mod:`kldrift.atomic`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from kldrift.atomic import atomic_path, write_bytes, write_text
from kldrift.config import JobConfig, Settings, coerce_config, load_config
from kldrift.errors import (
    ConfigError,
    KLDriftError,
    OutputError,
    ProfileError,
    SchemaError,
    SourceError,
    did_you_mean,
)
from kldrift.interval import Interval

BASE = "dataset: trips\nreference: data/ref/\ncurrent: data/cur/dt={ds}/\noutput: out/\n"
"""The four required keys: a minimal valid job."""

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: "), msg  # every message names the file first
    return msg.removeprefix(f"{path}: ")


# --- each kind of validation problem ------------------------------------------------------

# (YAML added to BASE, the message after "<file>: ")
CASES = [
    (
        "thresold: {warn: 0.1}\n",
        r"^thresold: unknown key \(did you mean 'thresholds'\?\); expected one of: airflow, alerts, baseline, bin",
    ),
    (
        "thresholds: {wran: 0.1}\n",
        r"^thresholds\.wran: unknown key \(did you mean 'warn'\?\); expected one of: calibrate, critical, warn$",
    ),
    (
        "columns: {fare: {edgs: [0, 5]}}\n",
        r"^columns\.fare\.edgs: unknown key \(did you mean 'edges'\?\); expected one of: bins, edges, kind, score, "
        r"strategy, thresholds$",
    ),
    (
        "columns: {fare: {thresholds: {critcal: 0.3}}}\n",
        r"^columns\.fare\.thresholds\.critcal: unknown key \(did you mean 'critical'\?\)",
    ),
    (
        "alerts: {webhook: {url: 'http://h/x', onn: warn}}\n",
        r"^alerts\.webhook\.onn: unknown key \(did you mean 'on'\?\)",
    ),
    ("zzz: 1\n", r"^zzz: unknown key; expected one of: "),  # nothing close: no hint
    # an internal field, not a YAML key
    ("base_dir: /\n", r"^base_dir: unknown key \(did you mean 'baseline'\?\); expected one of: airflow, "),
    ("min_rows: many\n", r"^min_rows: expected a valid integer, unable to parse string as an integer, got 'many'$"),
    ("binning: 5\n", r"^binning: expected a mapping, got 5$"),
    ("features: {include: fare}\n", r"^features\.include: expected a list, got 'fare'$"),
    ("binning: {bins: 2.5}\n", r"^binning\.bins: expected a valid integer, got a number with a fractional part$"),
    ("schedule: 12\n", r"^schedule: expected a valid string, got 12$"),
    ("columns: {fare: null}\n", r"^columns\.fare: expected a mapping, got None$"),
    ("thresholds: {warn: 0.3, critical: 0.2}\n", r"^thresholds: warn \(0\.3\) must be <= critical \(0\.2\)$"),
    (
        "columns: {fare: {thresholds: {warn: 0.5}}}\n",  # critical defaults to 0.25
        r"^columns\.fare\.thresholds: warn \(0\.5\) must be <= critical \(0\.25\)$",
    ),
    ("metric: kll\n", r"^metric: expected 'kl', 'kl_reverse', 'psi' or 'jensen_shannon', got 'kll'$"),
    ("binning: {strategy: quantiles}\n", r"^binning\.strategy: expected 'quantile' or 'uniform', got 'quantiles'$"),
    ("significance: {correction: holm}\n", r"^significance\.correction: expected 'fdr_bh', 'bonferroni' or 'none'"),
    ("alerts: {fail_on: always}\n", r"^alerts\.fail_on: expected 'never', 'warn' or 'critical', got 'always'$"),
    ("alerts: {webhook: {url: 'http://h/x', on: warning}}\n", r"^alerts\.webhook\.on: expected 'warn' or 'critical'"),
    (
        "alerts: {webhook: {url: 'ftp://h/x'}}\n",
        r"^alerts\.webhook\.url: expected an http:// or https:// URL, got 'ftp",
    ),
    (
        "alerts: {webhook: {on: warn}}\n",
        r"^alerts\.webhook: give exactly one of url \(inline\), url_env \(the environment variable that holds",
    ),
    (
        "alerts: {webhook: {url: 'http://h/x', url_env: HOOK}}\n",
        r"^alerts\.webhook: give exactly one of url \(inline\), url_env \(the environment .* or conn_id",
    ),
    ("alerts: {webhook: {url_env: 'not a name'}}\n", r"^alerts\.webhook\.url_env: String should match pattern"),
    (
        "alerts: {webhook: {url: 'http:///x'}}\n",
        r"^alerts\.webhook\.url: expected a URL with a host name, got 'http:///\*\*\*'$",  # the path may be the secret
    ),
    ("alerts: {webhook: {url: 'http://[::1/x'}}\n", r"^alerts\.webhook\.url: not a valid URL \(Invalid IPv6 URL\)"),
    ("alerts: {webhook: {url: 'http://h:99999/'}}\n", r"^alerts\.webhook\.url: not a valid URL \(Port out of range"),
    ("binning: {bins: 0}\n", r"^binning\.bins: expected greater than or equal to 1, got 0$"),
    ("significance: {alpha: 1.5}\n", r"^significance\.alpha: expected less than 1, got 1\.5$"),
    ("dataset_drift: {share: 0}\n", r"^dataset_drift\.share: expected greater than 0, got 0$"),
    ("smoothing: {pseudocount: .nan}\n", r"^smoothing\.pseudocount: expected a finite number$"),
    (
        "columns: {fare: {edges: [3, 1]}}\n",
        r"^columns\.fare\.edges: cut points must be strictly increasing, got \[3\.0, 1",
    ),
    ("columns: {fare: {edges: []}}\n", r"^columns\.fare\.edges: expected at least one cut point$"),
    ("columns: {fare: {edges: [1, .inf]}}\n", r"^columns\.fare\.edges: cut points must be finite numbers$"),
    (
        "columns: {zip: {kind: categorical, bins: 4}}\n",
        r"^columns\.zip: edges/bins apply to numeric columns, not kind: categorical$",
    ),
    ("start_date: someday\n", r"^start_date: expected a valid date or datetime, .*got 'someday'$"),
    ("metric: x\nmin_rows: y\n", r"^metric: expected .*, got 'x' \(and 1 more problem\)$"),
]


@pytest.mark.parametrize(("extra", "expected"), CASES, ids=[c[0].split(":")[0] + str(i) for i, c in enumerate(CASES)])
def test_each_problem_is_one_line_with_its_key_path(tmp_path: Path, extra: str, expected: str) -> None:
    assert re.search(expected, error_of(tmp_path, BASE + extra))


@pytest.mark.parametrize("missing", ["dataset", "reference", "current", "output"])
def test_missing_required_key(tmp_path: Path, missing: str) -> None:
    text = "".join(line + "\n" for line in BASE.splitlines() if not line.startswith(missing))
    assert error_of(tmp_path, text) == f"{missing}: required key is missing"


def test_several_missing_keys_name_the_first_and_count_the_rest(tmp_path: Path) -> None:
    assert error_of(tmp_path, "dataset: trips\n") == "reference: required key is missing (and 2 more problems)"


def test_dataset_name_must_be_a_folder_name(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE.replace("dataset: trips", "dataset: '../up'"))
    assert msg.startswith("dataset: String should match pattern")
    assert msg.endswith("got '../up'")


# --- templates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("c/dt={dt}/", r"^current: unknown placeholder \{dt\} in 'c/dt=\{dt\}/' \(did you mean 'ds'\?\); use one of"),
        ("c/{month}/", r"^current: unknown placeholder \{month\} in 'c/\{month\}/'; use one of \{ds\}, \{ds_nodash\}"),
        ("c/dt={ds:%Y}/", r"^current: placeholder \{ds\} in 'c/dt=\{ds:%Y\}/' takes no format spec or conversion$"),
        ("c/dt={ds!r}/", r"^current: placeholder \{ds\} in .* takes no format spec or conversion$"),
        ("c/dt={ds/", r"^current: bad template 'c/dt=\{ds/': expected '\}' before end of string; use \{ds\}"),
        ("c/dt=}/", r"^current: bad template 'c/dt=\}/': Single '\}' encountered"),
    ],
    ids=["unknown-dt", "unknown-no-hint", "format-spec", "conversion", "unclosed", "stray-brace"],
)
def test_bad_template(tmp_path: Path, template: str, expected: str) -> None:
    msg = error_of(tmp_path, BASE.replace("data/cur/dt={ds}/", template))
    assert re.search(expected, msg), msg


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("reference", "reference: unknown placeholder {month}"),
        # outputs are not templates: a placeholder there would never be rendered
        ("output", "output: 'x/{month}/' holds a placeholder, which is not rendered here"),
        ("profile", "profile: 'x/{month}/' holds a placeholder, which is not rendered here"),
    ],
    ids=["reference", "output", "profile"],
)
def test_every_path_key_is_checked_for_placeholders(tmp_path: Path, key: str, expected: str) -> None:
    text = BASE + "profile: p.json\n"
    text = re.sub(rf"^{key}: .*$", f"{key}: x/{{month}}/", text, flags=re.M)
    assert error_of(tmp_path, text).startswith(expected)


def test_templates_render_the_interval(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE.replace("data/cur/dt={ds}/", "cur/{ds_nodash}/{start}_{end}/{ds}/")))
    got = cfg.current_source(Interval.for_date("2026-11-23"))
    expected = "cur/20261123/2026-11-23T00:00:00+00:00_2026-11-24T00:00:00+00:00/2026-11-23/"
    assert got == os.path.normpath(os.path.join(tmp_path, expected))
    start = dt.datetime(2026, 11, 23, 6, tzinfo=dt.UTC)
    hourly = Interval(start, start + dt.timedelta(hours=1))
    assert hourly.fields() == {
        "ds": "2026-11-23",
        "ds_nodash": "20261123",
        "start": "2026-11-23T06:00:00+00:00",
        "end": "2026-11-23T07:00:00+00:00",
        "day": "2026-11-23",
        "day_nodash": "20261123",
    }


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE + "thresholds: {warn: 0.1\n", r"^invalid YAML at line 6, column 1: expected ',' or '\}'"),
        (BASE + "  bad: indent\n", r"^invalid YAML at line 5, column 6: mapping values are not allowed here$"),
        (
            BASE + "\tmetric: kl\n",
            r"^invalid YAML at line 5, column 1: found character '\\t' that cannot start any token",
        ),
        (BASE + "metric: kl\nmetric: psi\n", r"^invalid YAML at line 6, column 1: duplicate key 'metric'$"),
        (BASE + "thresholds: {warn: 0.1, warn: 0.2}\n", r"^invalid YAML at line 5, column 25: duplicate key 'warn'$"),
        (BASE + "tags: *nowhere\n", r"^invalid YAML at line 5, column 7: found undefined alias 'nowhere'$"),
        (
            BASE + "doc: !!python/object:os.system x\n",
            r"^invalid YAML at line 5, column 6: could not determine a constructor",
        ),
        (BASE + "columns: " + "[" * 3000 + "]" * 3000 + "\n", r"^invalid YAML: nested too deeply$"),
        ("", r"^config file is empty; expected at least dataset, reference, current, output$"),
        ("# only a comment\n", r"^config file is empty"),
        ("- dataset: trips\n", r"^expected a mapping of keys \(YAML dict\) at the top level, got list$"),
        ("just words\n", r"^expected a mapping of keys \(YAML dict\) at the top level, got str$"),
    ],
    ids=[
        "unclosed-flow",
        "bad-indent",
        "tab",
        "duplicate-key",
        "duplicate-nested-key",
        "undefined-alias",
        "python-tag",
        "deep",
        "empty",
        "comment-only",
        "list",
        "scalar",
    ],
)
def test_unparseable_documents(tmp_path: Path, text: str, expected: str) -> None:
    msg = error_of(tmp_path, text)
    assert re.search(expected, msg), msg


def test_merge_keys_may_override_without_being_duplicates(tmp_path: Path) -> None:
    text = BASE + "columns:\n  a: &col {kind: numeric, bins: 4}\n  b:\n    <<: *col\n    bins: 8\n"
    cfg = load_config(write(tmp_path, text))
    assert (cfg.columns["a"].bins, cfg.columns["b"].bins, cfg.columns["b"].kind) == (4, 8, "numeric")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^.*nope\.yaml: config file not found$"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r": is a directory, expected a YAML config file$"):
        load_config(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes(BASE.encode() + b"doc: caf\xe9\n")
    with pytest.raises(
        ConfigError, match=r"latin1\.yaml: cannot read config file: 'utf-8' codec can't decode byte 0xe9"
    ):
        load_config(tmp_path / "latin1.yaml")


def test_a_huge_bad_value_is_cut_short(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE + "metric: " + "x" * 10_000 + "\n")
    assert len(msg) < 200
    assert msg.endswith("xxxx ...")


# --- what a valid file gives ---------------------------------------------------------------


def test_yaml_on_stays_a_key_and_yes_is_not_a_boolean_key(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE + "alerts: {fail_on: warn, webhook: {url: 'http://h/x', on: warn}}\n"))
    assert cfg.alerts.webhook is not None
    assert cfg.alerts.webhook.on == "warn"
    assert cfg.alerts.fail_on == "warn"
    # YAML 1.1 would read `no` as False: a column named "no" must stay a string key.
    cfg = load_config(write(tmp_path, BASE + "columns: {no: {kind: categorical}, off: {kind: numeric}}\n"))
    assert set(cfg.columns) == {"no", "off"}


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf").mkdir()
    path = write(tmp_path / "conf", BASE + "profile: ../prof/p.json\n")
    monkeypatch.chdir(REPO)  # anywhere but the config's folder
    cfg = load_config(os.path.relpath(path))
    conf = str(tmp_path / "conf")
    assert cfg.reference_source() == os.path.join(conf, "data", "ref")
    assert cfg.current_source(Interval.for_date("2026-01-02")) == os.path.join(conf, "data", "cur", "dt=2026-01-02")
    assert cfg.dataset_dir() == os.path.join(conf, "out", "trips")
    assert cfg.profile_path() == str(tmp_path / "prof" / "p.json")
    absolute = load_config(write(tmp_path, BASE.replace("data/ref/", "/abs/ref/").replace("out/", "/abs/out/")))
    assert absolute.reference_source() == "/abs/ref"
    assert absolute.dataset_dir() == "/abs/out/trips"
    uri = load_config(write(tmp_path, BASE.replace("data/ref/", "s3://b/ref/")))
    assert uri.reference_source() == "s3://b/ref/"  # URIs untouched
    msg = error_of(tmp_path, BASE.replace("out/", "s3://b/out/"))
    assert (
        msg == "output: 's3://b/out/': outputs go to a local or mounted folder (object store outputs are not supported)"
    )
    assert load_config(path).profile_path() != load_config(path).dataset_dir()


def test_default_profile_path_is_in_the_dataset_folder(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.profile_path() == str(tmp_path / "out" / "trips" / "profile.json")


def test_example_config_documents_every_key_and_loads() -> None:
    cfg = load_config(REPO / "configs" / "example.yaml")
    assert isinstance(cfg, JobConfig)
    assert cfg.columns["fare"].edges == (0, 5, 10, 20, 50)
    assert cfg.alerts.webhook is not None
    assert cfg.alerts.webhook.on == "critical"
    text = (REPO / "configs" / "example.yaml").read_text()
    # a key set, or one shown in a comment (of two alternatives, such as url and url_env, one is set)
    documented = set(re.findall(r"^\s*(?:#\s*)?([a-z_]+):", text, flags=re.M))

    def keys(model: Any) -> set[str]:  # every key at every level, as YAML spells it
        out = set()
        for name, f in model.model_fields.items():
            if f.exclude:
                continue
            out.add(f.alias or name)
            for arg in (f.annotation, *getattr(f.annotation, "__args__", ())):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    out |= keys(arg)
        return out

    assert keys(JobConfig) - documented == set()
    with pytest.raises(Exception, match="frozen"):
        cfg.metric = "psi"  # type: ignore[misc]


def test_fingerprints_separate_binning_from_thresholds(tmp_path: Path) -> None:
    a = load_config(write(tmp_path, BASE, "a.yaml"))
    b = load_config(write(tmp_path, BASE + "thresholds: {warn: 0.01, critical: 0.02}\n", "b.yaml"))
    c = load_config(write(tmp_path, BASE + "binning: {bins: 7}\n", "c.yaml"))
    assert a.binning_fingerprint() == b.binning_fingerprint() != c.binning_fingerprint()
    assert a.fingerprint() != b.fingerprint()


def test_coerce_config(tmp_path: Path) -> None:
    assert coerce_config(None) == Settings()
    s = Settings(metric="psi")
    assert coerce_config(s) is s
    assert coerce_config({"metric": "psi"}).metric == "psi"
    assert isinstance(coerce_config({**load_config(write(tmp_path, BASE)).model_dump(exclude={"base_dir"})}), JobConfig)
    settings_only = coerce_config(write(tmp_path, "binning: {bins: 5}\n", "s.yaml"))
    assert type(settings_only) is Settings
    assert settings_only.binning.bins == 5
    assert isinstance(coerce_config(write(tmp_path, BASE)), JobConfig)
    with pytest.raises(ConfigError, match=r"^config: thresholds\.wran: unknown key \(did you mean 'warn'\?\)"):
        coerce_config({"thresholds": {"wran": 1}})
    with pytest.raises(ConfigError, match=r"^s\.yaml: metric: expected 'kl'"):
        coerce_config({"metric": "nope"}, source="s.yaml")
    with pytest.raises(ConfigError, match=r"s2\.yaml: dataset: required key is missing"):
        coerce_config(write(tmp_path, "output: o/\n", "s2.yaml"))  # one job key: a job, so the rest are required
    with pytest.raises(ConfigError, match=r"^config: expected a dict, a YAML path or a Settings object, got int$"):
        coerce_config(3)
    with pytest.raises(
        ConfigError, match=r"l\.yaml: expected a mapping of keys \(YAML dict\) at the top level, got list$"
    ):
        coerce_config(write(tmp_path, "[1]\n", "l.yaml"))


# --- intervals and dates -------------------------------------------------------------------


def test_interval_for_a_date_is_one_utc_day() -> None:
    iv = Interval.for_date("2026-02-28")
    assert (iv.start.isoformat(), iv.end.isoformat()) == ("2026-02-28T00:00:00+00:00", "2026-03-01T00:00:00+00:00")
    assert iv == Interval.for_date(dt.date(2026, 2, 28))
    assert hash(iv) == hash(Interval.for_date("2026-02-28"))
    assert repr(iv) == "Interval(2026-02-28T00:00:00+00:00, 2026-03-01T00:00:00+00:00)"
    assert Interval.parse("2026-02-28T06:00", "2026-02-28T07:00").ds == "2026-02-28"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: Interval.for_date("2026-13-01"), r"^date: expected a date as YYYY-MM-DD, got '2026-13-01'$"),
        (lambda: Interval.for_date("yesterday"), r"^date: expected a date as YYYY-MM-DD, got 'yesterday'$"),
        (lambda: Interval.parse("now", "2026-01-01"), r"^start: expected an ISO date or timestamp .*got 'now'$"),
        (lambda: Interval.parse("2026-01-01", "later"), r"^end: expected an ISO date or timestamp .*got 'later'$"),
        (
            lambda: Interval.parse("2026-01-02", "2026-01-01"),
            r"^interval end 2026-01-01T00:00:00\+00:00 must be after its start 2026-01-02T00:00:00\+00:00$",
        ),
    ],
    ids=["month-13", "word", "start", "end", "reversed"],
)
def test_bad_dates(call: object, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        call()  # type: ignore[operator]


# --- kldrift.errors ---------------------------------------------------------------------------


def test_errors_are_value_errors_of_one_line() -> None:
    err = KLDriftError("first line\n  second\tline ")
    assert str(err) == "first line second line"
    for cls in (ConfigError, SourceError, SchemaError, ProfileError, OutputError):
        assert issubclass(cls, KLDriftError)
        assert issubclass(cls, ValueError)
    assert did_you_mean("fare_amont", ["fare_amount", "tip"]) == " (did you mean 'fare_amount'?)"
    assert did_you_mean("zzz", ["fare_amount"]) == ""


def test_error_constructors() -> None:
    with pytest.raises(
        ConfigError, match=r"^f\.yaml: a\.bnis: unknown key \(did you mean 'bins'\?\); expected one of: bins, kind$"
    ):
        raise ConfigError.unknown_key("a", "bnis", ["kind", "bins"], source="f.yaml")
    with pytest.raises(SourceError, match=r"^/d/x\.parquet: empty file$"):
        raise SourceError.for_path("/d/x.parquet", "empty file")
    many = [f"c{i:02d}" for i in range(25)]
    with pytest.raises(
        SchemaError,
        match=r"^column 'c1' is not in the current data \(did you mean 'c\d\d'\?\); available: c00, .*c19, \.\.\.$",
    ):
        raise SchemaError.missing_column("c1", many, where="current data")


# --- kldrift.atomic (real files; the fault tests cover kills, full disks and read-only folders) ----


def test_atomic_writes_replace_and_leave_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    assert write_text(target, "one\n") == str(target)
    assert write_bytes(target, b"two\n") == str(target)
    assert target.read_bytes() == b"two\n"
    assert os.listdir(target.parent) == ["a.txt"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_a_failing_writer_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old\n")
    seen = []

    def write_half_then_fail() -> None:
        with atomic_path(target) as tmp:
            seen.append(os.path.basename(tmp))
            Path(tmp).write_text("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_half_then_fail()
    assert seen[0].startswith(".a.txt.")  # hidden: dataset scans skip it
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_atomic_write_into_a_file_path_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=r"file/a\.txt: cannot write output: (Not a directory|File exists)$"):
        write_text(tmp_path / "file" / "a.txt", "x")


def test_replacing_a_directory_is_an_output_error_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "a.txt").mkdir()
    with pytest.raises(OutputError, match=r"a\.txt: cannot write output: Is a directory$"):
        write_text(tmp_path / "a.txt", "x")
    assert os.listdir(tmp_path) == ["a.txt"]
