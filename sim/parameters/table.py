"""Reading parameter CSVs into validated :class:`ParameterSpec` rows.

Every module has one CSV in ``parameters/`` named after it (``compute.csv`` holds ``compute.*``).
Columns: ``name, value, unit, distribution, low, high, description, source`` and optionally
``min, max`` (hard bounds applied after sampling), ``shift`` (for shifted distributions) and
``actors``.

**Per-actor parameters.** A row ``module.parameter`` with ``actors`` = ``nation`` or ``project``
declares a parameter that each actor of that kind has: the row is the *template*, its value (and
distribution) the default for every actor without a row of its own, and rows
``module.ACTOR.parameter`` set one actor's value. A template row with an empty ``value`` has no
default: every actor of its kind must have a row (``sim/parameters/actors.py``).

Errors name the file, the line and the field.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from pathlib import Path

from sim.parameters.distributions import (
    Distribution,
    DistributionSpecError,
    Point,
    in_support,
    parse_distribution,
)

PARAMETERS_DIR = Path(__file__).resolve().parents[2] / "parameters"
REQUIRED_COLUMNS = ("name", "value", "unit", "distribution", "low", "high", "description", "source")
OPTIONAL_COLUMNS = ("min", "max", "shift", "actors")
SPECIAL_FILES = {"correlations.csv", "actors.csv"}


class ParameterError(ValueError):
    """Bad parameter input. The message names the file, line and field."""

    def __init__(self, file: str | Path, line: int | None, field: str | None, message: str):
        self.file, self.line, self.field = str(file), line, field
        where = self.file + (f", line {line}" if line else "") + (f", field '{field}'" if field else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: its central value, unit, Monte Carlo distribution and provenance."""

    name: str
    value: float
    unit: str
    distribution: Distribution
    description: str
    source: str
    minimum: float = -math.inf
    maximum: float = math.inf
    file: str = ""
    line: int = 0

    @property
    def module(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def is_fixed(self) -> bool:
        return isinstance(self.distribution, Point)

    def plausible_range(self) -> tuple[float, float]:
        if self.is_fixed:
            return (self.value, self.value)
        lo, hi = self.distribution.plausible_range()
        return (max(lo, self.minimum), min(hi, self.maximum))


def read_csv_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[str]]:
    """Read a CSV that may start with ``#`` comment lines. Returns header, (line, row) pairs, comments."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParameterError(path, None, None, "file not found") from None
    comments, body_lines, first_body_line = [], [], None
    for number, line in enumerate(text.splitlines(), start=1):
        if first_body_line is None and (line.lstrip().startswith("#") or not line.strip()):
            if line.lstrip().startswith("#"):
                comments.append(line.lstrip()[1:].strip())
            continue
        if first_body_line is None:
            first_body_line = number
        body_lines.append(line)
    if first_body_line is None:
        raise ParameterError(path, None, None, "no header row")
    reader = csv.reader(io.StringIO("\n".join(body_lines)))
    header = [h.strip() for h in next(reader)]
    rows = []
    for offset, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        line = first_body_line + offset
        if len(cells) > len(header):
            raise ParameterError(path, line, None, f"{len(cells)} cells but the header has {len(header)} columns "
                                                 '(quote cells that contain commas, e.g. "beta(3,3)")')
        if len(cells) < len(header):
            raise ParameterError(path, line, header[len(cells)],
                                 f"{len(cells)} cells but the header has {len(header)} columns "
                                 f"(the row ends before '{header[len(cells)]}')")
        rows.append((line, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}))
    return header, rows, comments


def _float(path: Path, line: int, field: str, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ParameterError(path, line, field, f"expected a number, got {text!r}") from None
    if math.isnan(number):
        raise ParameterError(path, line, field, f"expected a number, got {text!r}")
    return number


def spec_from_row(path: Path, line: int, row: dict[str, str], base: ParameterSpec | None = None) -> ParameterSpec:
    """Build (or, with ``base``, override) a spec from one CSV row and validate it."""
    name = row["name"]
    if base is None and not row.get("value", "").strip():
        raise ParameterError(path, line, "value", f"parameter {name!r} has no value")
    value = _float(path, line, "value", row["value"]) if row.get("value", "").strip() else base.value
    if not math.isfinite(value):
        raise ParameterError(path, line, "value", f"value of {name!r} must be finite")
    minimum = _float(path, line, "min", row["min"]) if row.get("min", "").strip() else (
        base.minimum if base else -math.inf)
    maximum = _float(path, line, "max", row["max"]) if row.get("max", "").strip() else (
        base.maximum if base else math.inf)
    if minimum > maximum:
        raise ParameterError(path, line, "min", f"min ({minimum:g}) > max ({maximum:g}) for {name!r}")
    try:
        dist = parse_distribution(row.get("distribution", ""), row.get("low", ""), row.get("high", ""),
                                  row.get("shift", ""), value)
    except DistributionSpecError as err:
        raise ParameterError(path, line, err.field, f"{name!r}: {err}") from None
    if not in_support(dist, value):
        raise ParameterError(
            path, line, "value", f"value {value:g} of {name!r} is outside the support of its {dist.describe()}")
    if not (minimum <= value <= maximum):
        raise ParameterError(path, line, "value", f"value {value:g} of {name!r} is outside [min, max] = "
                                                  f"[{minimum:g}, {maximum:g}]")
    fields = dict(value=value, distribution=dist, minimum=minimum, maximum=maximum, file=str(path), line=line)
    if base is not None:
        fields["name"] = name
        for key in ("unit", "description", "source"):
            if row.get(key, "").strip():
                fields[key] = row[key]
        return replace(base, **fields)
    return ParameterSpec(name=name, unit=row.get("unit", ""), description=row.get("description", ""),
                         source=row.get("source", ""), **fields)


@dataclass(frozen=True)
class ActorTemplate:
    """A per-actor parameter ``module.parameter`` of every actor of ``kind``; ``default`` is its
    template row's spec (the value of actors without their own row), or None: every actor needs one."""

    name: str
    kind: str
    default: ParameterSpec | None
    model: ParameterSpec  # unit, description, source for rows created from the template
    file: str = ""
    line: int = 0


def load_module_csv(path: Path, templates: dict[str, ActorTemplate] | None = None) -> dict[str, ParameterSpec]:
    """The parameters of one module file; per-actor templates go into ``templates`` (if given)."""
    header, rows, _ = read_csv_rows(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ParameterError(path, 1, missing[0], f"missing column(s) {', '.join(missing)}")
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ParameterError(path, 1, unknown[0], f"unknown column(s) {', '.join(unknown)}")
    module = path.stem
    specs: dict[str, ParameterSpec] = {}
    found: dict[str, ActorTemplate] = {}
    actor_rows = []
    for line, row in rows:
        name = row["name"]
        if not name:
            raise ParameterError(path, line, "name", "empty parameter name")
        if not name.startswith(module + "."):
            raise ParameterError(path, line, "name", f"{name!r} must start with '{module}.' in {path.name}")
        if name in specs or name in found:
            raise ParameterError(path, line, "name", f"duplicate parameter {name!r}")
        parts = name.split(".")
        if len(parts) not in (2, 3) or not all(parts):
            raise ParameterError(path, line, "name", f"{name!r}: names are module.parameter, or "
                                                     "module.ACTOR.parameter for one actor's value")
        kind = row.get("actors", "").strip()
        if len(parts) == 3:
            if kind:
                raise ParameterError(path, line, "actors", f"{name!r} is one actor's value: 'actors' belongs on the "
                                                           f"template row {parts[0]}.{parts[2]}")
            actor_rows.append((line, row))
            continue
        if kind and kind not in ("nation", "project"):
            raise ParameterError(path, line, "actors", f"'actors' of {name!r} must be nation, project or empty, "
                                                       f"got {kind!r}")
        if kind and not row.get("value", "").strip():  # a template without default
            # a template without a default has no value of its own: its unit, bounds and description are
            # checked with its lower bound standing in for the value (each actor's row supplies the real one)
            stand_in = (row.get("min") or "").strip() or "0"
            model = spec_from_row(path, line, {**row, "value": stand_in, "distribution": "point"})
            found[name] = ActorTemplate(name, kind, None, model, str(path), line)
            continue
        spec = spec_from_row(path, line, row)
        specs[name] = spec
        if kind:
            found[name] = ActorTemplate(name, kind, spec, spec, str(path), line)
    for line, row in actor_rows:
        name = row["name"]
        module_, _actor, parameter = name.split(".")
        template = found.get(f"{module_}.{parameter}")
        if template is None:
            raise ParameterError(path, line, "name", f"{name!r} sets one actor's value of {module_}.{parameter}, which "
                                                     f"has no template row with an 'actors' kind in {path.name}")
        base = template.default
        if base is None:
            specs[name] = spec_from_row(path, line, row, base=replace(template.model, file=str(path), line=line)) \
                if row.get("value", "").strip() else _missing_value(path, line, name)
        else:
            specs[name] = spec_from_row(path, line, row, base=replace(base, file=str(path), line=line))
    if templates is not None:
        templates.update(found)
    return specs


def _missing_value(path: Path, line: int, name: str):
    raise ParameterError(path, line, "value", f"parameter {name!r} has no value")


def module_files(directory: Path = PARAMETERS_DIR) -> list[Path]:
    return sorted(p for p in directory.glob("*.csv") if p.name not in SPECIAL_FILES and "name_map" not in p.name)


def load_all(directory: Path = PARAMETERS_DIR, templates: dict[str, ActorTemplate] | None = None
             ) -> dict[str, ParameterSpec]:
    """Every module's parameters, keyed by name (per-actor templates into ``templates``)."""
    specs: dict[str, ParameterSpec] = {}
    for path in module_files(directory):
        specs.update(load_module_csv(path, templates))
    return specs


def load_correlations(directory: Path = PARAMETERS_DIR, known: dict | None = None) -> dict[tuple[str, str], float]:
    path = directory / "correlations.csv"
    if not path.exists():
        return {}
    header, rows, _ = read_csv_rows(path)
    for column in ("name_a", "name_b", "spearman"):
        if column not in header:
            raise ParameterError(path, 1, column, f"missing column {column}")
    out: dict[tuple[str, str], float] = {}
    for line, row in rows:
        a, b = row["name_a"], row["name_b"]
        for field, name in (("name_a", a), ("name_b", b)):
            if known is not None and name not in known:
                raise ParameterError(path, line, field, f"unknown parameter {name!r}")
        rho = _float(path, line, "spearman", row["spearman"])
        if not -1.0 <= rho <= 1.0:
            raise ParameterError(path, line, "spearman", f"rank correlation {rho:g} outside [-1, 1]")
        out[(a, b)] = rho
    return out
