"""Command line: ``python -m sim run | params | scenarios | calibrate | validate``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from sim.calibration import cli as calibration_cli
from sim.parameters import ParameterError, list_scenarios, load_scenario, read_param_rows
from sim.simulate import DTYPE, simulate

EPILOG = """examples:
  python -m sim scenarios
  python -m sim run --scenario aifm_eli                      # central (median-parameter) run
  python -m sim run --scenario aifm_eli --samples 1000 --seed 1
  python -m sim run --scenario baseline --set software_rnd.present_doubling_time=0.4 --json
  python -m sim run --scenario aifm_eli --param-rows rows.csv --json   # one sample per CSV row
  python -m sim params --module software_rnd
  python -m sim calibrate --scenario aifm_eli --fit software_rnd.present_doubling_time --until 2024.5
  python -m sim validate --out docs/validation
"""


def _parse_set(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ParameterError("--set", None, None, f"expected name=value, got {item!r}")
        name, value = item.split("=", 1)
        try:
            number = float(value)
        except ValueError:
            raise ParameterError("--set", None, name.strip(), f"value {value!r} is not a number") from None
        if not math.isfinite(number):
            raise ParameterError("--set", None, name.strip(), f"value {value!r} must be a finite number")
        out[name.strip()] = number
    return out


def _fmt_year(x: float | None) -> str:
    return "   —   " if x is None or not math.isfinite(x) else f"{x:7.2f}"


def cmd_run(args: argparse.Namespace) -> int:
    overrides = _parse_set(args.set)
    if args.end is not None:
        overrides["simulation.end_year"] = args.end
    scenario = load_scenario(args.scenario, overrides)
    if args.param_rows:
        params, ignored = read_param_rows(Path(args.param_rows), scenario)
        if ignored:
            print(f"note: ignored {len(ignored)} column(s) of {args.param_rows} that are not model parameters: "
                  f"{', '.join(ignored)}", file=sys.stderr)
        # pinned scenario settings (run length etc.) and --set values apply to every row
        for name, value in overrides.items():
            params = params.with_values(**{name.replace(".", "__"): value})
    elif args.samples:
        params = scenario.sample(args.samples, args.seed)
    else:
        params = scenario.central()
    start = params.scalar("simulation.start_year")
    end = params.scalar("simulation.end_year")
    step = params.scalar("simulation.output_step_years")
    first = args.start if args.start is not None else start
    if first < start:
        raise ParameterError("--start", None, None, f"--start {first:g} is before the scenario's integration start "
                                                   f"simulation.start_year = {start:g}")
    n = int(round((end - first) / step))
    grid = first + step * torch.arange(n + 1, dtype=DTYPE)

    progress = None
    bar = None
    if not args.json and params.batch_size >= 100 and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=100, unit="%", desc=f"{scenario.name} ({params.batch_size} samples)", file=sys.stderr)

        def progress(fraction: float) -> None:
            bar.n = int(100 * fraction)
            bar.refresh()

    traj = simulate(params, scenario, grid, progress=progress)
    if bar is not None:
        bar.close()
    if args.out:
        out = Path(args.out)
        traj.to_wide().to_parquet(out, index=False)
    if args.json:
        seed = args.seed if (args.samples and not args.param_rows) else None
        json.dump(traj.to_json_dict(seed=seed), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        return 0
    _print_summary(traj, scenario, params.batch_size, args)
    return 0


def _print_summary(traj, scenario, n, args) -> None:
    kind = "central run" if n == 1 and not args.param_rows else f"{n} samples"
    seed = f", seed {args.seed}" if args.samples and not args.param_rows else ""
    print(f"scenario {scenario.name}: {kind}{seed}, {float(traj.years[0]):g}–{float(traj.years[-1]):g}, "
          f"{traj.wall_seconds:.2f} s ({traj.solver_steps} RK4 steps)")
    if scenario.description:
        print(f"  {scenario.description}")
    summary = traj.summary()
    if summary["milestones"]:
        print()
        if n == 1:
            print(f"  {'milestone':<12}{'year':>8}")
            for name, entry in summary["milestones"].items():
                print(f"  {name:<12}{_fmt_year(entry['p50']):>8}")
        else:
            print(f"  {'milestone':<12}{'p10':>8}{'p50':>8}{'p90':>8}   reached by {float(traj.years[-1]):g}")
            for name, entry in summary["milestones"].items():
                print(f"  {name:<12}{_fmt_year(entry['p10']):>8}{_fmt_year(entry['p50']):>8}"
                      f"{_fmt_year(entry['p90']):>8}   {100 * entry['reached']:5.1f}%")
    print()
    status = ", ".join(f"{count} {name}" for name, count in summary["status"].items())
    print(f"  status: {status}")
    if n == 1 and traj.status[0] != "ok":
        print(f"  {traj.status[0]} at {traj.status_year[0].item():.2f}")
    if "takeoff_classes" in summary:
        print("  takeoff class (growth / labor share / wages):")
        for key, count in sorted(summary["takeoff_classes"].items(), key=lambda kv: -kv[1]):
            print(f"    {key:<20} {count:>6} ({100 * count / n:.1f}%)")
    if args.out:
        print(f"  trajectories written to {args.out}")


def cmd_params(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    table = scenario.model_parameters.table()
    if args.module:
        modules = sorted(table["module"].unique())
        if args.module not in modules:
            raise ParameterError("--module", None, None, f"unknown module {args.module!r}; modules: {', '.join(modules)}")
        table = table[table["module"] == args.module]
    if args.json:
        print(table.to_json(orient="records"))
        return 0
    for row in table.itertuples():
        print(f"{row.name}  = {row.value:g} {row.unit}")
        print(f"    {row.distribution}" + (f"  (80% range {row.p10:.3g} – {row.p90:.3g})"
                                          if row.distribution != 'point' else ""))
        if row.description:
            print(f"    {row.description}")
        if row.source:
            print(f"    source: {row.source}")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    for name, description in list_scenarios():
        print(f"{name:<34} {description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim", description="Batched, differentiable AI futures simulator.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="simulate a scenario (central run, Monte Carlo sample or given parameter rows)",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--scenario", default="baseline", help="scenario name (see `scenarios`) or path to an override CSV")
    group = run.add_mutually_exclusive_group()
    group.add_argument("--samples", type=int, help="number of Monte Carlo samples (omit for the central run)")
    group.add_argument("--param-rows", metavar="FILE.csv",
                       help="CSV with one parameter set per row (our names or the AI Futures calculator's)")
    run.add_argument("--seed", type=int, default=0, help="random seed for --samples (default 0)")
    run.add_argument("--set", action="append", metavar="NAME=VALUE", help="pin a parameter (repeatable)")
    run.add_argument("--start", type=float, help="first output year (integration still starts at the scenario's "
                                                  "simulation.start_year)")
    run.add_argument("--end", type=float, help="last year simulated (sets simulation.end_year)")
    run.add_argument("--json", action="store_true", help="print one JSON object (documented in README)")
    run.add_argument("--out", metavar="FILE.parquet", help="also write trajectories (sample, year, metrics) to Parquet")
    run.set_defaults(func=cmd_run)

    params = sub.add_parser("params", help="list parameters with value, unit, distribution and source")
    params.add_argument("--module", help="only this module (e.g. compute, software_rnd, economy)")
    params.add_argument("--scenario", default="baseline", help="show values as overridden by this scenario")
    params.add_argument("--json", action="store_true")
    params.set_defaults(func=cmd_params)

    scen = sub.add_parser("scenarios", help="list named scenarios")
    scen.set_defaults(func=cmd_scenarios)
    calibration_cli.add_commands(sub)  # calibrate, validate (sim/calibration/cli.py)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
