"""Named scenarios: small override files in ``parameters/scenarios/``.

A scenario file starts with ``#`` comment lines (what it is, which source or table row it
reproduces), then a CSV with a ``name`` column and any subset of the parameter columns. A row
without a ``distribution`` pins the parameter at ``value``; a row with one replaces the
parameter's distribution.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd

from sim.parameters.actors import (
    DEFAULT_ACTORS_FILE,
    Actors,
    actor_name,
    companion_actors_file,
    load_actors,
    split_name,
)
from sim.parameters.model_parameters import ModelParameters, SimulationParameters
from sim.parameters.policies import companion_policies_file, load_policies
from sim.parameters.table import (
    OPTIONAL_COLUMNS,
    PARAMETERS_DIR,
    REQUIRED_COLUMNS,
    ParameterError,
    load_all,
    load_correlations,
    module_files,
    read_csv_rows,
    spec_from_row,
)

SCENARIOS_DIR = PARAMETERS_DIR / "scenarios"
NAME_MAP_FILE = PARAMETERS_DIR / "aifm_name_map.csv"


class UnknownScenario(ParameterError):
    pass


@dataclass
class Scenario:
    """A named set of parameter distributions: the module CSVs plus one override file."""

    name: str
    model_parameters: ModelParameters
    description: str = ""
    path: Path | None = None
    files: list[Path] = field(default_factory=list)
    set_overrides: dict[str, float] = field(default_factory=dict)

    @property
    def actors(self) -> Actors:
        """The world's nations and AI projects (``parameters/actors.csv`` or the scenario's
        ``NAME.actors.csv``)."""
        return self.model_parameters.actors

    def central(self) -> SimulationParameters:
        return self.model_parameters.central()

    def sample(self, n: int, seed: int = 0) -> SimulationParameters:
        return self.model_parameters.sample(n, seed)

    def setting(self, name: str) -> float:
        """A run setting (``simulation.*``) at its central value."""
        return self.model_parameters[name].value

    def files_hash(self) -> str:
        """Hash of every file that defines this scenario (module CSVs, correlations, override, --set)."""
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        for key in sorted(self.set_overrides):
            digest.update(f"{key}={self.set_overrides[key]!r}".encode())
        return digest.hexdigest()[:16]


def list_scenarios(directory: Path = SCENARIOS_DIR) -> list[tuple[str, str]]:
    """``(name, first comment line)`` for every scenario file."""
    out = []
    for path in sorted(directory.glob("*.csv")):
        if path.name.endswith((".actors.csv", ".policies.csv")):
            continue
        _, _, comments = read_csv_rows(path)
        out.append((path.stem, comments[0] if comments else ""))
    return out


def _resolve(name_or_path: str | Path) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".csv" or candidate.exists():
        if not candidate.exists():
            raise UnknownScenario(candidate, None, None, "scenario file not found")
        return candidate
    path = SCENARIOS_DIR / f"{name_or_path}.csv"
    if not path.exists():
        known = ", ".join(name for name, _ in list_scenarios())
        raise UnknownScenario(path, None, None, f"unknown scenario {str(name_or_path)!r}; known scenarios: {known}")
    return path


def apply_override_file(base: ModelParameters, path: Path) -> tuple[ModelParameters, list[str]]:
    """``base`` with the rows of a scenario file applied. A row ``module.ACTOR.parameter`` of a
    per-actor parameter sets that actor's value (the actor must be of the template's kind in
    ``base.actors``)."""
    header, rows, comments = read_csv_rows(path)
    if "name" not in header:
        raise ParameterError(path, 1, "name", "missing column 'name'")
    allowed = set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS) - {"actors"}
    unknown = [c for c in header if c not in allowed]
    if unknown:
        raise ParameterError(path, 1, unknown[0], f"unknown column(s) {', '.join(unknown)}")
    specs = dict(base.specs)
    for line, row in rows:
        name = row["name"]
        spec = base.spec_for(name, path, line) if name not in specs else specs[name]
        if not row.get("distribution", "").strip():
            row = {**row, "distribution": "point"}
        specs[name] = spec_from_row(path, line, row, base=spec)
    return ModelParameters(specs, base.correlations, base.actors, base.templates), comments


def check_actor_names(model: ModelParameters) -> None:
    """Every per-actor row (``module.ACTOR.parameter``) names an actor of ``model.actors`` of its
    template's kind."""
    actors = model.actors
    for name, spec in model.specs.items():
        template, actor = split_name(name)
        if actor is None:
            continue
        kind = model.templates[template].kind
        if actors.kind_of(actor) != kind:
            raise ParameterError(spec.file, spec.line, "name",
                                 f"{name!r} names the {kind} {actor!r}, which is not a {kind} of the world in "
                                 f"{actors.file} ({actors.describe()})")


def for_world(base: ModelParameters, actors: Actors) -> ModelParameters:
    """The base parameters (written for the default world) moved to the world ``actors``: rows of
    actors the world does not have are dropped (they describe the default world); an actor the
    base files do not describe takes each template's default, or its value from the scenario file."""
    if actors == base.actors:
        return base
    specs = {}
    for name, spec in base.specs.items():
        template, actor = split_name(name)
        if actor is None or actors.kind_of(actor) == base.templates[template].kind:
            specs[name] = spec
    correlations = {pair: rho for pair, rho in base.correlations.items() if pair[0] in specs and pair[1] in specs}
    return ModelParameters(specs, correlations, actors, base.templates)


def check_complete(model: ModelParameters, scenario_file: Path | None) -> None:
    """Every per-actor parameter without a default has a value for every actor of its kind."""
    actors = model.actors
    for template in model.templates.values():
        if template.default is not None:
            continue
        for actor in actors.ids(template.kind):
            name = actor_name(template.name, actor)
            if name not in model.specs:
                where = f" (set {name} in {scenario_file})" if scenario_file is not None else ""
                raise ParameterError(actors.file, actors.line_of(actor), "actor",
                                     f"the {template.kind} {actor!r} has no value of {template.name}, a per-actor "
                                     f"parameter without a default ({template.file}, line {template.line}){where}")


def base_parameters(directory: Path = PARAMETERS_DIR) -> ModelParameters:
    """Every module's parameters for the default world (``parameters/actors.csv``)."""
    actors = load_actors(directory / DEFAULT_ACTORS_FILE.name)
    templates: dict = {}
    specs = load_all(directory, templates)
    model = ModelParameters(specs, load_correlations(directory, specs), actors, templates)
    check_actor_names(model)
    check_complete(model, None)
    return model


def load_scenario(name_or_path: str | Path = "baseline", overrides: Mapping[str, float] | None = None) -> Scenario:
    """Load a named scenario (``parameters/scenarios/NAME.csv``) or an override file by path.

    ``overrides`` pins parameters by name (the CLI's ``--set name=value``).
    """
    path = _resolve(name_or_path)
    base = base_parameters()
    companion = companion_actors_file(path)
    actors = load_actors(companion) if companion.exists() else base.actors
    model, comments = apply_override_file(for_world(base, actors), path)
    check_complete(model, path)
    policies = companion_policies_file(path)
    if policies.exists():
        from sim.metrics_catalog import metrics

        agreements = load_policies(policies, model.actors.nations, {m.name for m in metrics()})
        model.actors = dataclasses.replace(model.actors, agreements=agreements)
    for name, value in (overrides or {}).items():
        model = model.pinned(name, float(value))
    files = module_files() + [p for p in [PARAMETERS_DIR / "correlations.csv", DEFAULT_ACTORS_FILE, companion, policies,
                                         path]
                              if p.exists()]
    return Scenario(name=path.stem, model_parameters=model, description=" ".join(comments[:1]),
                    path=path, files=files, set_overrides=dict(overrides or {}))


def load_name_map(path: Path = NAME_MAP_FILE) -> dict[str, tuple[str, dict[str, float]]]:
    """External (calculator) column name -> (our name or "" if unmodelled, value map for text cells).

    File columns: ``our_name, calculator_name, value_map, note``; ``value_map`` is like
    ``gap:1;no gap:0`` for columns that hold words.
    """
    if not path.exists():
        return {}
    header, rows, _ = read_csv_rows(path)
    for column in ("our_name", "calculator_name"):
        if column not in header:
            raise ParameterError(path, 1, column, f"missing column {column}")
    out = {}
    for line, row in rows:
        mapping = {}
        for item in filter(None, (row.get("value_map") or "").split(";")):
            if ":" not in item:
                raise ParameterError(path, line, "value_map", f"{item!r} must be text:number")
            word, number = item.rsplit(":", 1)
            mapping[word.strip()] = float(number)
        out[row["calculator_name"]] = (row["our_name"], mapping)
    return out


def read_param_rows(path: Path, scenario: Scenario) -> tuple[SimulationParameters, list[str]]:
    """Parameter sets from a CSV, one sample per row, accepting our names or the calculator's."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ParameterError(path, None, None, "file not found") from None
    except IsADirectoryError:
        raise ParameterError(path, None, None, "is a directory, not a CSV file") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ParameterError(path, None, None, f"cannot read it as a CSV file ({err})") from None
    return scenario.model_parameters.from_rows(frame, load_name_map(), source=str(path))
