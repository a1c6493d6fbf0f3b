"""The actors of a world: nations and AI projects, read from an actors file.

An actors file is a CSV (``#`` comment lines allowed) with the columns

    actor, kind, owner, reference, description, source

``actor`` is an identifier (lower case letters, digits, ``_``), ``kind`` is ``nation`` or
``project``; a project names its owner nation in ``owner``; exactly one project has
``reference = 1``: the project whose inputs the AI Futures calculator's input series describe (its
compute anchors the calibrated start of every project, see ``sim/updaters/compute``). Nations leave
``owner`` and ``reference`` empty.

The default world is ``parameters/actors.csv``. A scenario ``NAME.csv`` whose world differs has a
companion file ``NAME.actors.csv`` next to it (the AI Futures scenarios are one-project worlds).

Per-actor parameters are named ``module.ACTOR.parameter`` (three dotted parts, e.g.
``supply_chain.us.initial_compute_h100e``); global parameters keep two (``module.parameter``).
Updaters read a per-actor parameter as one ``[B, A]`` tensor with
:meth:`SimulationParameters.per_actor`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sim.parameters.table import PARAMETERS_DIR, ParameterError, read_csv_rows

DEFAULT_ACTORS_FILE = PARAMETERS_DIR / "actors.csv"
ACTOR_COLUMNS = ("actor", "kind", "owner", "reference", "description", "source")
KINDS = ("nation", "project")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Actors:
    """The nations and AI projects of a world (ids in file order)."""

    nations: tuple[str, ...]
    projects: tuple[str, ...]
    owners: tuple[str, ...]  # owner nation of each project
    reference: str  # the project the calculator's input series describe
    file: str = ""
    lines: tuple[tuple[str, int], ...] = ()  # (actor, line in the file) for error messages
    #: the scenario's slowdown agreements (``sim.parameters.policies``; travel with the world)
    agreements: tuple = ()

    @classmethod
    def one_project(cls) -> "Actors":
        """The fallback world of a parameter set built without a scenario: one nation, one project
        (the AI Futures scenarios' world, ``parameters/scenarios/aifm_eli.actors.csv``)."""
        return cls(nations=("us",), projects=("leading",), owners=("us",), reference="leading")

    @property
    def owner_index(self) -> tuple[int, ...]:
        """Index into ``nations`` of each project's owner."""
        return tuple(self.nations.index(o) for o in self.owners)

    @property
    def reference_index(self) -> int:
        return self.projects.index(self.reference)

    def ids(self, kind: str) -> tuple[str, ...]:
        if kind not in KINDS:
            raise ValueError(f"actor kind must be one of {', '.join(KINDS)}, got {kind!r}")
        return self.nations if kind == "nation" else self.projects

    def kind_of(self, actor: str) -> str | None:
        if actor in self.nations:
            return "nation"
        if actor in self.projects:
            return "project"
        return None

    def line_of(self, actor: str) -> int | None:
        return dict(self.lines).get(actor)

    def projects_of(self, nation: str) -> tuple[str, ...]:
        return tuple(p for p, o in zip(self.projects, self.owners) if o == nation)

    def describe(self) -> str:
        projects = ", ".join(f"{p} ({o})" for p, o in zip(self.projects, self.owners))
        return f"nations {', '.join(self.nations)}; projects {projects}"


def load_actors(path: Path = DEFAULT_ACTORS_FILE) -> Actors:
    """Read and validate an actors file (errors name the file, the line and the field)."""
    header, rows, _ = read_csv_rows(Path(path))
    missing = [c for c in ("actor", "kind", "owner", "reference") if c not in header]
    if missing:
        raise ParameterError(path, 1, missing[0], f"missing column(s) {', '.join(missing)}")
    unknown = [c for c in header if c not in ACTOR_COLUMNS]
    if unknown:
        raise ParameterError(path, 1, unknown[0], f"unknown column(s) {', '.join(unknown)}; "
                                                  f"columns are {', '.join(ACTOR_COLUMNS)}")
    nations: list[str] = []
    projects: list[tuple[str, str, str, int]] = []
    lines: list[tuple[str, int]] = []
    for line, row in rows:
        actor, kind = row["actor"], row["kind"]
        if not actor:
            raise ParameterError(path, line, "actor", "empty actor id")
        if not _IDENTIFIER.match(actor):
            raise ParameterError(path, line, "actor", f"actor id {actor!r} must be lower-case letters, digits and "
                                                      "'_', starting with a letter")
        if actor in dict(lines):
            raise ParameterError(path, line, "actor", f"duplicate actor {actor!r}")
        if kind not in KINDS:
            raise ParameterError(path, line, "kind", f"kind of {actor!r} must be one of {', '.join(KINDS)}, "
                                                     f"got {kind!r}")
        lines.append((actor, line))
        if kind == "nation":
            for column in ("owner", "reference"):
                if row.get(column, "").strip():
                    raise ParameterError(path, line, column, f"nation {actor!r} cannot have a {column}")
            nations.append(actor)
        else:
            projects.append((actor, row["owner"], row.get("reference", "").strip(), line))
    for actor, owner, reference, line in projects:
        if not owner:
            raise ParameterError(path, line, "owner", f"project {actor!r} has no owner nation")
        if owner not in nations:
            raise ParameterError(path, line, "owner", f"owner {owner!r} of project {actor!r} is not a nation of this "
                                                      f"file (nations: {', '.join(nations) or 'none'})")
        if reference not in ("", "0", "1"):
            raise ParameterError(path, line, "reference", f"reference must be 0, 1 or empty, got {reference!r}")
    if not nations:
        raise ParameterError(path, None, "kind", "an actors file needs at least one nation")
    if not projects:
        raise ParameterError(path, None, "kind", "an actors file needs at least one AI project")
    references = [p for p in projects if p[2] == "1"]
    if len(references) != 1:
        where = references[1][3] if len(references) > 1 else None
        raise ParameterError(path, where, "reference", f"exactly one project must have reference = 1 (the project "
                                                       f"the calculator's input series describe), found {len(references)}")
    return Actors(nations=tuple(nations), projects=tuple(p[0] for p in projects),
                  owners=tuple(p[1] for p in projects), reference=references[0][0], file=str(path),
                  lines=tuple(lines))


def companion_actors_file(scenario_path: Path) -> Path:
    """``NAME.actors.csv`` next to the scenario file ``NAME.csv``."""
    return scenario_path.with_name(scenario_path.stem + ".actors.csv")


def split_name(name: str) -> tuple[str, str | None]:
    """(template, actor) of a parameter name: ``supply_chain.us.initial_compute_h100e`` ->
    (``supply_chain.initial_compute_h100e``, ``us``); a global name -> (name, None)."""
    parts = name.split(".")
    if len(parts) == 3:
        return f"{parts[0]}.{parts[2]}", parts[1]
    return name, None


def actor_name(template: str, actor: str) -> str:
    """``module.parameter`` + actor -> ``module.ACTOR.parameter``."""
    module, parameter = template.split(".", 1)
    return f"{module}.{actor}.{parameter}"
