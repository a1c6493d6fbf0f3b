"""``python -m sim calibrate`` and ``python -m sim validate`` (registered by ``sim/cli.py``)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

CALIBRATE_EPILOG = """examples:
  python -m sim calibrate --scenario aifm_eli \\
      --fit software_rnd.present_doubling_time,software_rnd.doubling_difficulty_growth_factor,software_rnd.present_horizon_minutes
  python -m sim calibrate --scenario aifm_eli --fit software_rnd.present_doubling_time --until 2024.5   # backtest
  python -m sim calibrate --scenario aifm_eli --fit compute.training_growth_pre_slowdown \\
      --data data/frontier_training_compute.csv --out my_fit.csv

Loss: ½ Σ ((ln model − ln data)/σ)² over the data up to --until, σ from each point's stated
confidence interval, plus ½ zᵀR⁻¹z: each parameter's Monte Carlo distribution as its prior
(docs/CALIBRATION.md). Data files: data/README.md.
"""


def add_commands(sub) -> None:
    cal = sub.add_parser("calibrate", help="fit parameters to historical data (MAP, gradient descent through the "
                                           "simulator; Laplace spreads; backtest with --until)",
                         epilog=CALIBRATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    cal.add_argument("--scenario", default="aifm_eli", help="scenario name or path (default aifm_eli)")
    cal.add_argument("--fit", required=True, metavar="NAME1,NAME2,...", help="parameters to fit")
    cal.add_argument("--data", nargs="+", metavar="FILE", help="data files (default data/metr_time_horizons.csv)")
    cal.add_argument("--until", type=float, metavar="YEAR", help="fit only data up to YEAR; report how the fit "
                                                                 "predicts the later data (backtest)")
    cal.add_argument("--out", metavar="FILE.csv", help="fitted scenario file (default out/calibration/"
                                                       "SCENARIO_calibrated.csv; a .fit.json beside it)")
    cal.add_argument("--method", choices=("lbfgs", "adam"), default="lbfgs")
    cal.add_argument("--max-iter", type=int, default=100)
    cal.add_argument("--rtol", type=float, default=1e-6, help="stop when the loss changes by less than this "
                                                              "(relative; default 1e-6)")
    cal.add_argument("--step", type=float, default=None, help="RK4 step in years (default 0.25; docs/CALIBRATION.md)")
    cal.add_argument("--all-models", action="store_true", help="also fit METR's non-SOTA rows and non-frontier "
                                                                "training runs")
    cal.add_argument("--set", action="append", metavar="NAME=VALUE", help="pin a parameter (repeatable)")
    cal.set_defaults(func=cmd_calibrate)

    val = sub.add_parser("validate", help="write the validation report (Markdown + PNG plots)")
    val.add_argument("--out", default="docs/validation", metavar="DIR", help="output folder (default docs/validation)")
    val.add_argument("--samples", type=int, default=200, help="Monte Carlo samples of the fans (default 200)")
    val.add_argument("--quick", action="store_true", help="fewer samples and no takeoff-table runs (a smoke test)")
    val.set_defaults(func=cmd_validate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.calibration.fit import DEFAULT_STEP, fit, predictions, setup
    from sim.calibration.scenario_file import write_json, write_scenario
    from sim.cli import _parse_set

    names = [n.strip() for n in args.fit.split(",") if n.strip()]
    problem = setup(args.scenario, names, data=args.data, until=args.until, overrides=_parse_set(args.set),
                    step=args.step or DEFAULT_STEP, sota_only=not args.all_models)
    obs = problem.observations
    files = ", ".join(sorted({Path(f).name for f in obs["file"]}))
    print(f"calibrate {problem.scenario.name}: {len(names)} parameter(s), {int(problem.train.sum())} of {len(obs)} "
          f"observations ({files})" + (f" up to {args.until:g}" if args.until is not None else ""))
    if problem.switched_off:
        print(f"  switched off for the fit (no fitted parameter or data; predictions unchanged): "
              f"{', '.join(problem.switched_off)}")
    result = fit(problem, method=args.method, max_iter=args.max_iter, rtol=args.rtol,
                 progress=sys.stderr.isatty())
    state = "converged" if result.converged else "stopped"
    print(f"{state} after {result.iterations} {args.method} iterations ({result.evaluations} simulations with "
          f"gradients, {result.wall_seconds:.1f} s; Laplace {result.laplace_seconds:.1f} s): {result.reason}")
    print(f"loss {result.loss_start:.6g} -> {result.loss:.6g}")
    print()
    print(format_parameters(result))
    print()
    print("posterior correlations (Laplace):")
    print(format_matrix(result.names, result.correlation))
    pred = predictions(result)
    print()
    print(format_predictions(pred))
    if args.until is not None:
        print()
        print(format_backtest(pred))
    out = Path(args.out) if args.out else Path("out/calibration") / f"{problem.scenario.name}_calibrated.csv"
    command = "python -m sim calibrate " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
        if len(sys.argv) > 2 and sys.argv[1] == "calibrate" else ""
    write_scenario(result, out, command)
    json_path = write_json(result, out.with_suffix(".fit.json"))
    print()
    print(f"wrote {out} (scenario: python -m sim run --scenario {out}) and {json_path}")
    return 0


def format_parameters(result) -> str:
    table = result.table()
    width = max(len(n) for n in table.name)
    lines = [f"  {'parameter':<{width}}  {'start':>10}  {'fitted':>10}  {'sd':>9}  {'16%-84%':>21}  prior"]
    for row in table.itertuples():
        lines.append(f"  {row.name:<{width}}  {row.start:>10.4g}  {row.fitted:>10.4g}  {row.sd:>9.3g}  "
                     f"{row.p16:>10.4g}-{row.p84:<10.4g}  {row.prior}")
    return "\n".join(lines)


def format_matrix(names: list[str], matrix: np.ndarray) -> str:
    short = [n.split(".")[-1][:14] for n in names]
    lines = ["  " + " " * 16 + "".join(f"{s:>16}" for s in short)]
    for s, row in zip(short, matrix):
        lines.append(f"  {s:<16}" + "".join(f"{v:>16.2f}" for v in row))
    return "\n".join(lines)


def format_predictions(pred) -> str:
    lines = [f"  {'observation':<28}{'year':>9}{'data':>11}{'before':>11}{'after':>11}{'ln err before':>15}"
             f"{'ln err after':>14}  use"]
    for row in pred.itertuples():
        lines.append(f"  {row.label[:27]:<28}{row.year:>9.2f}{row.value:>11.4g}{row.model_before:>11.4g}"
                     f"{row.model_after:>11.4g}{row.log_error_before:>15.3f}{row.log_error_after:>14.3f}  "
                     + ("fit" if row.used_in_fit else "held out"))
    return "\n".join(lines)


def format_backtest(pred) -> str:
    from sim.calibration.fit import backtest_summary

    summary = backtest_summary(pred)
    lines = ["backtest (RMS of ln(model/data); RMS of the standardised error):",
             f"  {'series':<28}{'points':<10}{'n':>4}{'uncalibrated':>14}{'fitted':>9}{'z uncal.':>10}{'z fitted':>10}"]
    for row in summary.itertuples():
        lines.append(f"  {row.series:<28}{row.points:<10}{row.n:>4}{row.rms_log_error_uncalibrated:>14.3f}"
                     f"{row.rms_log_error_fitted:>9.3f}{row.rms_z_uncalibrated:>10.3f}{row.rms_z_fitted:>10.3f}")
    return "\n".join(lines)


def cmd_validate(args: argparse.Namespace) -> int:
    from sim.calibration.report import write_report

    path = write_report(Path(args.out), samples=args.samples, quick=args.quick, log=print)
    print(f"wrote {path}")
    return 0
