"""kldrift.profile: a fitted reference saved as versioned JSON, and every way loading it can fail."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import kldrift
from kldrift.errors import ProfileError
from kldrift.histogram import Histogram
from kldrift.profile import FORMAT, VERSION, Profile


@pytest.fixture
def profile(rng: np.random.Generator) -> Profile:
    n = 1_000
    table = pa.table(
        {
            "x": rng.normal(size=n),
            "k": rng.integers(0, 5, n),
            "c": pa.array(rng.choice(["a", "b", "c"], n)),
            "inf": pa.array([math.inf, -math.inf, 0.0, None] * (n // 4)),
        }
    )
    return kldrift.fit(table)


@pytest.fixture
def saved(tmp_path: Path, profile: Profile) -> Path:
    path = tmp_path / "profile.json"
    profile.save(path)
    return path


def edit(path: Path, change: Any) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def test_profile_features(profile: Profile) -> None:
    assert list(profile.features) == ["x", "k", "c", "inf"]
    x, k, c = profile.features["x"], profile.features["k"], profile.features["c"]
    assert (x.kind, len(x.edges), x.values) == ("numeric", 9, None)
    assert (k.kind, k.values) == ("numeric", (0.0, 1.0, 2.0, 3.0, 4.0))
    assert (c.kind, set(c.categories)) == ("categorical", {"a", "b", "c"})
    assert c.labels[-2:] == ["other", "null"]
    assert profile.rows == 1_000
    assert all(sum(f.counts) == 1_000 for f in profile.features.values())
    assert profile.features["inf"].counts == (250, 250, 250, 0, 250)  # -inf, 0, +inf, other, null


def test_save_load_round_trip(profile: Profile, saved: Path) -> None:
    loaded = Profile.load(saved)
    assert loaded.spec == profile.spec
    assert loaded.fingerprint == profile.fingerprint
    assert loaded.histogram == profile.histogram
    assert loaded.binning_fingerprint == profile.binning_fingerprint
    assert {n: f.counts for n, f in loaded.features.items()} == {n: f.counts for n, f in profile.features.items()}
    assert loaded.features["inf"].values == (-math.inf, 0.0, math.inf)


def test_saved_json_carries_format_version_and_fingerprint(profile: Profile, saved: Path) -> None:
    data = json.loads(saved.read_text())
    assert data["format"] == FORMAT == "kldrift-profile"
    assert data["version"] == VERSION == 2
    assert data["fingerprint"] == profile.spec.fingerprint
    assert data["rows"] == 1_000
    assert data["features"]["x"]["counts"] == list(profile.features["x"].counts)
    assert data["features"]["x"]["edges"] == list(profile.features["x"].edges)


def test_save_is_byte_stable(tmp_path: Path, profile: Profile, saved: Path) -> None:
    again = tmp_path / "again.json"
    Profile.load(saved).save(again)
    assert again.read_bytes() == saved.read_bytes()


def test_save_returns_the_path_and_leaves_no_temp_files(tmp_path: Path, profile: Profile) -> None:
    out = profile.save(tmp_path / "p.json")
    assert Path(out) == tmp_path / "p.json"
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_counts_that_do_not_belong_to_the_spec(profile: Profile) -> None:
    other = Histogram("0" * 16, 0, profile.histogram.counts)
    with pytest.raises(ProfileError, match=r"profile counts do not belong to its bin spec \(fingerprints differ\)"):
        Profile(profile.spec, other, "")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda d: d.update(format="something-else"),
            r'not a kldrift profile \(expected "format": "kldrift-profile"\)',
        ),
        (lambda d: d.pop("format"), r'not a kldrift profile \(expected "format": "kldrift-profile"\)'),
        (lambda d: d.update(version=1), r"profile format version 1 is not supported \(expected 2\); refit it"),
        (lambda d: d.pop("version"), r"profile format version None is not supported"),
        (
            lambda d: d["features"]["x"]["edges"].__setitem__(0, -99.0),
            r"bin spec fingerprint \w+ does not match the recorded \w+; the profile was edited or is corrupt",
        ),
        (lambda d: d.update(fingerprint="0123456789abcdef"), r"does not match the recorded 0123456789abcdef"),
        (lambda d: d["features"]["x"]["counts"].pop(), r"feature 'x': expected 11 non-negative counts"),
        (lambda d: d["features"]["c"]["counts"].__setitem__(0, -1), r"feature 'c': expected 5 non-negative counts"),
        (
            lambda d: d["features"]["x"]["counts"].__setitem__(0, d["features"]["x"]["counts"][0] + 1),
            r"feature 'x': counts sum to \d+, not the profile's \d+ rows",
        ),
        (lambda d: d["features"]["x"].pop("counts"), r"malformed profile: KeyError: 'counts'"),
        (lambda d: d.pop("features"), r"malformed profile: KeyError: 'features'"),
        (lambda d: d.update(rows="many"), r"malformed profile: ValueError: "),
        (lambda d: d["features"]["k"].update(kind="ordinal"), r"feature 'k': malformed bin spec: unknown kind"),
        (lambda d: d.pop("columns"), r"malformed profile: KeyError: 'columns'"),
        (lambda d: d["columns"]["x"].pop("role"), r"malformed profile: KeyError: 'role'"),
        (lambda d: d.pop("coverage"), r"malformed profile: KeyError: 'coverage'"),
        (
            lambda d: d["features"]["x"].__setitem__("test_counts", [0] * 3),
            r"feature 'x': expected 11 non-negative counts",
        ),
        (
            lambda d: d["features"]["x"].__setitem__("test_counts", [10**9] * 11),
            r"feature 'x': test counts exceed the counts",
        ),
    ],
    ids=[
        "wrong-format",
        "no-format",
        "wrong-version",
        "no-version",
        "edited-edges",
        "tampered-fingerprint",
        "short-counts",
        "negative-count",
        "counts-not-rows",
        "no-counts",
        "no-features",
        "bad-rows",
        "bad-kind",
        "no-columns",
        "column-without-role",
        "no-coverage",
        "short-test-counts",
        "test-counts-too-big",
    ],
)
def test_load_errors_name_the_file(saved: Path, change: Any, match: str) -> None:
    edit(saved, change)
    with pytest.raises(ProfileError, match=match) as info:
        Profile.load(saved)
    assert str(info.value).startswith(f"{saved}: ")


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"nope\.json: profile not found$"):
        Profile.load(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", r"not a kldrift profile \(invalid JSON at line 1: "),
        ("", r"not a kldrift profile \(invalid JSON at line 1: Expecting value\)"),
        ("[1, 2]", r'not a kldrift profile \(expected "format": "kldrift-profile"\)'),
    ],
    ids=["bad-json", "empty", "a-list"],
)
def test_load_not_a_profile(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ProfileError, match=match):
        Profile.load(path)


def test_load_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProfileError, match=r"p\.json: cannot read profile: "):
        Profile.load(path)


def test_load_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"cannot read profile: "):
        Profile.load(tmp_path)


def test_profile_errors_are_value_errors() -> None:
    assert issubclass(ProfileError, ValueError)
    assert issubclass(ProfileError, kldrift.KLDriftError)
