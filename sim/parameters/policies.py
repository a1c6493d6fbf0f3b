"""Slowdown agreements of a scenario, read from its companion file ``NAME.policies.csv``.

One row per phase change of an agreement, with the columns

    agreement, signatories, phase, year, trigger_metric, trigger_threshold, cap, cap_unit,
    cap_growth_ooms_per_year, source

``phase`` is ``negotiating``, ``signed``, ``in_force`` or ``collapsed`` (phases 1-4; 0 is "none"),
listed in that order. A phase begins at ``year``, or when ``trigger_metric`` (a metric of the
catalogue, ``sim/metrics_catalog.py``; a per-actor metric counts when any actor's value crosses)
reaches ``trigger_threshold``, whichever comes first. A milestone may stand for its underlying
metric: ``SAR`` (AI research taste at the top researcher's, in SDs; the AC condition of the
milestone is not applied) and ``AIR-Nx`` (AI R&D uplift N). The ``in_force`` row carries the cap on
the signatories' largest training run: ``cap`` with ``cap_unit`` ``log10_flop`` (an absolute
cap) or ``ooms_above_level`` (OOMs above the signatories' largest run when the agreement takes
force; 0 with no growth is a pause), growing at ``cap_growth_ooms_per_year``.

Errors name the file, the line and the field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from sim.parameters.table import ParameterError, read_csv_rows

PHASES = ("none", "negotiating", "signed", "in_force", "collapsed")
CAP_UNITS = ("log10_flop", "ooms_above_level")
COLUMNS = ("agreement", "signatories", "phase", "year", "trigger_metric", "trigger_threshold", "cap", "cap_unit",
           "cap_growth_ooms_per_year", "source")
_MILESTONE = re.compile(r"^(SAR|AIR-(\d+)x)$")


@dataclass(frozen=True)
class PhaseRule:
    """When an agreement enters ``phase`` (1-4): at ``year`` or when the trigger crosses."""

    phase: int
    year: float = math.inf
    trigger_metric: str = ""
    trigger_threshold: float = math.nan
    line: int = 0


@dataclass(frozen=True)
class AgreementSpec:
    """One agreement: its signatory nations, phase rules and cap."""

    id: str
    signatories: tuple[str, ...]
    rules: tuple[PhaseRule, ...]
    cap: float = math.nan
    cap_unit: str = ""
    cap_growth: float = 0.0
    file: str = ""


def companion_policies_file(scenario_path: Path) -> Path:
    """``NAME.policies.csv`` next to the scenario file ``NAME.csv``."""
    return scenario_path.with_name(scenario_path.stem + ".policies.csv")


def milestone_metric(name: str) -> tuple[str, float | None] | None:
    """(metric, fixed threshold or None = from the parameters) of a milestone trigger, else None."""
    match = _MILESTONE.match(name)
    if match is None:
        return None
    if match.group(1) == "SAR":
        return "ai_research_taste_sd", None
    return "ai_rnd_uplift", float(match.group(2))


def _number(path: Path, line: int, field: str, text: str, default: float) -> float:
    if not text.strip():
        return default
    try:
        return float(text)
    except ValueError:
        raise ParameterError(path, line, field, f"{text!r} is not a number") from None


def load_policies(path: Path, nations: tuple[str, ...], metric_names: set[str]) -> tuple[AgreementSpec, ...]:
    """Read and validate a policies file for a world with ``nations``."""
    header, rows, _ = read_csv_rows(Path(path))
    for column in ("agreement", "signatories", "phase"):
        if column not in header:
            raise ParameterError(path, 1, column, f"missing column {column!r}")
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise ParameterError(path, 1, unknown[0], f"unknown column(s) {', '.join(unknown)}; columns are "
                                                  f"{', '.join(COLUMNS)}")
    by_id: dict[str, dict] = {}
    for line, row in rows:
        agreement = row["agreement"].strip()
        if not agreement:
            raise ParameterError(path, line, "agreement", "empty agreement id")
        spec = by_id.setdefault(agreement, {"signatories": None, "rules": [], "cap": math.nan, "cap_unit": "",
                                            "cap_growth": 0.0})
        signatories = tuple(s.strip() for s in row["signatories"].split(";") if s.strip())
        for nation in signatories:
            if nation not in nations:
                raise ParameterError(path, line, "signatories", f"{nation!r} is not a nation of the world "
                                                                f"({', '.join(nations)})")
        if not signatories:
            raise ParameterError(path, line, "signatories", "no signatory nation")
        if spec["signatories"] is not None and signatories != spec["signatories"]:
            raise ParameterError(path, line, "signatories", f"the rows of agreement {agreement!r} name different "
                                                            "signatories")
        spec["signatories"] = signatories
        phase_name = row["phase"].strip()
        if phase_name not in PHASES[1:]:
            raise ParameterError(path, line, "phase", f"phase must be one of {', '.join(PHASES[1:])}, got "
                                                      f"{phase_name!r}")
        phase = PHASES.index(phase_name)
        previous = spec["rules"][-1] if spec["rules"] else None
        if previous is not None and phase <= previous.phase:
            raise ParameterError(path, line, "phase", f"phases of {agreement!r} out of order: {phase_name} after "
                                                      f"{PHASES[previous.phase]} (order: {', '.join(PHASES[1:])})")
        year = _number(path, line, "year", row.get("year", ""), math.inf)
        # a fixed date may not precede an earlier phase's fixed date (a phase entered by a trigger alone has the
        # year inf and orders nothing: pause_at_sar's collapse in 2045 follows an in_force triggered by SAR)
        dated = [r for r in spec["rules"] if math.isfinite(r.year)]
        if dated and year < dated[-1].year:
            raise ParameterError(path, line, "year", f"{phase_name} of {agreement!r} in {year:g}, before "
                                                     f"{PHASES[dated[-1].phase]} in {dated[-1].year:g}")
        metric = row.get("trigger_metric", "").strip()
        threshold = _number(path, line, "trigger_threshold", row.get("trigger_threshold", ""), math.nan)
        if metric:
            milestone = milestone_metric(metric)
            if milestone is None and metric not in metric_names:
                raise ParameterError(path, line, "trigger_metric", f"unknown metric or milestone {metric!r} (metrics: "
                                                                   "sim/metrics_catalog.py; milestones: SAR, AIR-Nx)")
            if (milestone is None or milestone[1] is None) and metric != "SAR" and math.isnan(threshold):
                raise ParameterError(path, line, "trigger_threshold", f"trigger {metric!r} needs a threshold")
        elif not math.isnan(threshold):
            raise ParameterError(path, line, "trigger_metric", "a threshold without a trigger metric")
        if not metric and math.isinf(year):
            raise ParameterError(path, line, "year", f"{phase_name} of {agreement!r} has neither a year nor a trigger")
        cap = _number(path, line, "cap", row.get("cap", ""), math.nan)
        unit = row.get("cap_unit", "").strip()
        growth = _number(path, line, "cap_growth_ooms_per_year", row.get("cap_growth_ooms_per_year", ""), 0.0)
        if not math.isnan(cap) or unit:
            if phase_name != "in_force":
                raise ParameterError(path, line, "cap", "a cap belongs on the in_force row")
            if not unit:
                raise ParameterError(path, line, "cap_unit", f"cap {cap:g} has no unit ({' or '.join(CAP_UNITS)})")
            if unit not in CAP_UNITS:
                raise ParameterError(path, line, "cap_unit", f"cap unit must be one of {', '.join(CAP_UNITS)}, got "
                                                             f"{unit!r}")
            if math.isnan(cap):
                raise ParameterError(path, line, "cap", f"cap_unit {unit!r} without a cap value")
            spec.update(cap=cap, cap_unit=unit, cap_growth=growth)
        spec["rules"].append(PhaseRule(phase, year, metric, threshold, line))
    return tuple(AgreementSpec(agreement, s["signatories"], tuple(s["rules"]), s["cap"], s["cap_unit"],
                               s["cap_growth"], str(path)) for agreement, s in by_id.items())
