"""``python -m sim validate``: the validation report (Markdown + PNG plots) in one folder.

Sections: the model against each historical series with the prior and the fitted fan; the
METR fit and its backtest; the AI Futures calculator reproduction (central milestones, Monte
Carlo percentiles against the published ones, per-sample agreement with the calculator's own
runs); the takeoff-classification table; closed-form checks; the gradient check. Everything is
computed when the command runs, from the repository's own data (``data/``).
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from sim.calibration import charts
from sim.calibration.data import DATA_DIR, METR_FILE, TRAINING_COMPUTE_FILE, load_observations
from sim.calibration.fit import FitResult, backtest_summary, fit, predictions, setup
from sim.calibration.gradcheck import gradient_check, summary
from sim.calibration.scenario_file import write_json
from sim.parameters import SimulationParameters, list_scenarios, load_name_map, load_scenario
from sim.simulate import simulate

DTYPE = torch.float64
GOLDEN = DATA_DIR / "reference" / "aifm_golden"
#: The METR fit of the report (3-5 parameters of the software R&D module).
METR_FIT = ["software_rnd.present_doubling_time", "software_rnd.doubling_difficulty_growth_factor",
            "software_rnd.present_horizon_minutes", "software_rnd.software_progress_rate_at_reference_year"]
BACKTEST_UNTIL = 2024.5


def _md_table(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = []
        for col, v in zip(cols, row):
            if col == "year" and isinstance(v, float):
                cells.append(f"{v:.2f}")
            elif isinstance(v, float):
                cells.append("—" if not math.isfinite(v) else format(v, floatfmt))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _quantile_fans(years: np.ndarray, values: np.ndarray, name: str) -> pd.DataFrame:
    q = np.nanquantile(values, [0.1, 0.5, 0.9], axis=0)
    return pd.DataFrame({"year": years, "p10": q[0], "p50": q[1], "p90": q[2], "fan": name})


def _ai_only(params: SimulationParameters, **settings: float) -> SimulationParameters:
    values = {n: params[n].detach().clone() for n in params.names}
    for k, v in settings.items():
        values[k] = torch.full((params.batch_size,), float(v), dtype=DTYPE)
    if "economy.enabled" in values:
        values["economy.enabled"] = torch.zeros(params.batch_size, dtype=DTYPE)
    return SimulationParameters(values, params.actors)


def posterior_sample(result: FitResult, n: int, seed: int) -> SimulationParameters:
    """``n`` Monte Carlo samples of the scenario with the fitted parameters drawn from the Laplace
    posterior (the others from their prior)."""
    problem = result.problem
    prior = problem.scenario.sample(n, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    chol = torch.linalg.cholesky(result.cov_z + 1e-12 * torch.eye(len(result.names), dtype=DTYPE))
    z = result.z + torch.randn(n, len(result.names), generator=gen, dtype=DTYPE) @ chol.T
    x = problem.x_of(z).detach()
    values = {k: prior[k].detach().clone() for k in prior.names}
    for j, name in enumerate(result.names):
        values[name] = x[:, j]
    return SimulationParameters(values, prior.actors)


def metr_section(out: Path, samples: int, quick: bool, log: Callable) -> tuple[str, dict]:
    names = METR_FIT[:1] if quick else METR_FIT
    max_iter = 3 if quick else 100
    t = time.perf_counter()
    problem = setup("aifm_eli", names)
    result = fit(problem, max_iter=max_iter)
    log(f"  METR fit: {result.iterations} iterations, {result.wall_seconds:.1f} s")
    write_json(result, out / "metr_fit.fit.json")
    pred = predictions(result)
    backtests = {}
    for label, fitted in (("all four parameters", names), ("without the present horizon", [n for n in names if
                                                                                           "present_horizon" not in n])):
        if not fitted:
            continue
        bt = fit(setup("aifm_eli", fitted, until=BACKTEST_UNTIL), max_iter=max_iter)
        backtests[label] = bt
        write_json(bt, out / f"metr_backtest_{len(fitted)}.fit.json")
        if quick:
            break
    # fans: prior (scenario) and fitted (posterior) Monte Carlo
    grid = torch.arange(2019.0, 2027.01, 0.25, dtype=DTYPE)
    settings = {"simulation.start_year": 2019.0, "simulation.end_year": 2027.0}
    fans = []
    for label, params in (("prior (aifm_eli)", problem.scenario.sample(samples, 0)),
                          ("fitted (Laplace posterior)", posterior_sample(result, samples, 0))):
        with torch.no_grad():
            traj = simulate(_ai_only(params, **settings), problem.scenario, grid, step=0.25,
                            record=["time_horizon_minutes", "training_compute_ooms"])
        fans.append((label, traj))
    years = grid.numpy()
    obs = load_observations([METR_FILE])
    points = obs.assign(low=np.exp(np.log(obs.value) - 1.96 * obs.sigma), high=np.exp(np.log(obs.value) + 1.96 * obs.sigma))
    horizon = pd.concat([_quantile_fans(years, tr.series["time_horizon_minutes"].numpy(), label) for label, tr in fans])
    charts.save_png(charts.data_vs_model(points, horizon, "METR 80% time horizons (SOTA) against the model",
                                         "80% time horizon (minutes)"), out / "metr_horizons.png")
    tc = load_observations([TRAINING_COMPUTE_FILE])
    tc_points = tc.assign(low=tc.value - 1.2816 * tc.sigma, high=tc.value + 1.2816 * tc.sigma)
    compute = _quantile_fans(years, fans[0][1].series["training_compute_ooms"].numpy(), "prior (aifm_eli)")
    charts.save_png(charts.data_vs_model(tc_points, compute, "Frontier training compute against the model",
                                         "log10 training FLOP", log=False), out / "training_compute.png")
    charts.save_png(charts.loss_history(result.history), out / "metr_loss.png")

    table = result.table()
    tab = pd.DataFrame({"parameter": table.name, "prior": table.prior, "start": table.start, "fitted": table.fitted,
                        "sd": table.sd, "16%": table.p16, "84%": table.p84})
    corr = pd.DataFrame(result.correlation, columns=[n.split(".")[-1] for n in names])
    corr.insert(0, "", [n.split(".")[-1] for n in names])
    text = [
        "## 1. METR time horizons: fit, spreads and backtest",
        "",
        f"`python -m sim calibrate --scenario aifm_eli --fit {','.join(names)}` (MAP; L-BFGS; the METR 80% horizons of "
        f"the SOTA models, errors in log space weighted by METR's 95% CIs; priors = the Monte Carlo distributions). "
        f"{result.iterations} iterations, {result.evaluations} simulations with gradients, "
        f"**{result.wall_seconds:.1f} s** (Laplace {result.laplace_seconds:.1f} s); {result.reason}. "
        f"Loss {result.loss_start:.4g} → {result.loss:.4g}. Modules switched off for the fit: "
        f"{', '.join(problem.switched_off) or 'none'}.",
        "",
        "![METR horizons](metr_horizons.png)",
        "",
        _md_table(tab),
        "",
        "The AI Futures Project's own estimate of the present doubling time: 0.456 yr (5.5 months; Eli Lifland's "
        "Dec-2025 lognormal, 80% CI 0.29-0.717 yr), Daniel Kokotajlo 0.493 yr; their Q1-2026 update uses 4-4.5 "
        "months (0.33-0.375 yr) (aifm_equations.md §14-15).",
        "",
        "Posterior correlations (Laplace):",
        "",
        _md_table(corr, ".2f"),
        "",
        "![loss](metr_loss.png)",
        "",
        "Every observation (model before = the scenario's central run, after = the fit):",
        "",
        _md_table(pred[["label", "year", "value", "model_before", "model_after", "log_error_before",
                        "log_error_after"]].rename(columns={"value": "METR p80 (min)"}), ".3g"),
        "",
        f"### Backtest: fit to data up to {BACKTEST_UNTIL:g}, predict the rest",
        "",
        "Errors are ln(model/data). The uncalibrated scenario is not a clean baseline: its present horizon "
        "(26 min at 2025.6) is itself GPT-5's METR measurement, so it knows the last point.",
        "",
    ]
    summaries = {}
    for label, bt in backtests.items():
        p = predictions(bt)
        s = backtest_summary(p)
        late = p[(~p.used_in_fit) & (p.year >= 2025)]
        s25 = {"n": len(late), "rms_uncalibrated": float(np.sqrt(np.mean(late.log_error_before ** 2))),
               "rms_fitted": float(np.sqrt(np.mean(late.log_error_after ** 2)))}
        summaries[label] = {"summary": s, "2025": s25, "points": p, "result": bt}
        text += [f"**Fit of {len(bt.names)} parameters ({label})**: {bt.iterations} iterations, {bt.wall_seconds:.1f} s. "
                 f"2025 points: RMS ln error {s25['rms_fitted']:.3f} fitted vs {s25['rms_uncalibrated']:.3f} "
                 "uncalibrated.", "",
                 _md_table(s.rename(columns=lambda c: c.replace("_", " ")), ".3f"), "",
                 _md_table(p[~p.used_in_fit][["label", "year", "value", "model_before", "model_after",
                                               "log_error_before", "log_error_after"]], ".3g"), ""]
    text += ["![training compute](training_compute.png)", "",
             "Frontier training compute (`data/frontier_training_compute.csv`, frontier rows, 80% intervals) against "
             "the prior fan of `training_compute_ooms`; not fitted here (`--data data/frontier_training_compute.csv` "
             "fits it).", ""]
    return "\n".join(text), {"fit": result, "backtests": summaries, "seconds": time.perf_counter() - t}


def economy_section(out: Path, samples: int) -> str:
    scen = load_scenario("baseline", {"simulation.end_year": 2040.0})
    params = scen.sample(samples, 0)
    grid = torch.arange(2024.0, 2040.01, 0.5, dtype=DTYPE)
    with torch.no_grad():
        traj = simulate(params, scen, grid, record=["gdp_growth", "labor_share"])
    years = grid.numpy()
    gdp = pd.read_csv(DATA_DIR / "world_gdp.csv")
    share = pd.read_csv(DATA_DIR / "labour_share.csv")
    charts.save_png(charts.history_vs_model(gdp.rename(columns={"real_gdp_growth": "value"})[["year", "value"]],
                                            _quantile_fans(years, traj.series["gdp_growth"].numpy(), "baseline"),
                                            "World real GDP growth: history (IMF) and the model",
                                            "growth rate (1/yr)"), out / "gdp_growth.png")
    charts.save_png(charts.history_vs_model(share.rename(columns={"labour_income_share": "value"})[["year", "value"]],
                                            _quantile_fans(years, traj.series["labor_share"].numpy(), "baseline"),
                                            "Labour share: history (ILO) and the model", "labour share"),
                    out / "labour_share.png")
    return "\n".join([
        "## 2. The economy against history", "",
        f"`baseline`, {samples} Monte Carlo samples from 2024 (p10-p50-p90). History: `data/world_gdp.csv` (IMF WEO), "
        "`data/labour_share.csv` (ILO; two vintages, not one consistent series). The economy is calibrated to 2024, "
        "so history is the context of the projection, not fitted data.", "",
        "![GDP growth](gdp_growth.png)", "", "![labour share](labour_share.png)", ""])


def _calculator_grid(start: float, end: float) -> torch.Tensor:
    return torch.tensor(np.round(np.arange(start, end + 1e-9, 0.1), 10), dtype=DTYPE)


def aifm_section(out: Path, samples: int, quick: bool) -> str:
    marks = pd.read_csv(GOLDEN / "central_milestones.csv")
    names = {"SAR": "SAR-level-experiment-selection-skill", "SIAR": "SIAR-level-experiment-selection-skill"}
    rows = []
    for forecaster in ("eli", "daniel"):
        scen = load_scenario(f"aifm_{forecaster}")
        params = _ai_only(scen.central(), **{"simulation.start_year": 2012.0, "simulation.end_year": 2040.0})
        with torch.no_grad():
            traj = simulate(params, scen, _calculator_grid(2012.0, 2040.0))
        for m in ("AC", "SAR", "SIAR", "TED-AI", "ASI", "AI2027-SC", "AIR-5x", "AIR-25x"):
            theirs = marks[(marks.forecaster == forecaster) & (marks.milestone == names.get(m, m))].year
            rows.append({"forecaster": forecaster, "milestone": m, "calculator": float(theirs.iloc[0]),
                         "ours": float(traj.milestones[m][0])})
    central = pd.DataFrame(rows).assign(difference=lambda f: f.ours - f.calculator)

    published = pd.read_csv(GOLDEN / "published_milestone_percentiles.csv")
    pct = []
    end = 2045.0 if quick else 2100.0
    for forecaster in ("eli", "daniel"):
        scen = load_scenario(f"aifm_{forecaster}")
        params = _ai_only(scen.sample(samples, 42), **{"simulation.end_year": end})
        with torch.no_grad():
            traj = simulate(params, scen, torch.arange(2024.0, end + 1e-9, 0.1, dtype=DTYPE),
                            record=["progress_ooms"])
        for row in published[published.forecaster == forecaster].itertuples():
            v = traj.milestones[row.milestone].numpy()
            v = v[np.isfinite(v)]
            q = np.quantile(v, [0.1, 0.5, 0.9]) if len(v) else [np.nan] * 3
            pct.append({"forecaster": forecaster, "milestone": row.milestone, "published p10": row.p10,
                        "ours p10": q[0], "published p50": row.p50, "ours p50": q[1], "published p90": row.p90,
                        "ours p90": q[2], f"reached by {end:g}": len(v) / samples})
    pct = pd.DataFrame(pct)

    frame = pd.read_csv(GOLDEN / "sampled_runs_shared.csv")
    if quick:
        frame = frame.groupby("forecaster").head(10)
    agree, scatter = [], []
    for forecaster in ("eli", "daniel"):
        rows_f = frame[frame.forecaster == forecaster].reset_index(drop=True)
        scen = load_scenario(f"aifm_{forecaster}")
        params, _ = scen.model_parameters.from_rows(rows_f, load_name_map())
        last = 2045.0 if quick else 2100.0
        params = _ai_only(params, **{"simulation.start_year": 2012.0, "simulation.end_year": last})
        with torch.no_grad():
            traj = simulate(params, scen, _calculator_grid(2012.0, last))
        for m, tol in (("AC", 0.25), ("SAR", 0.5), ("ASI", 0.5)):
            ours = traj.milestones[m].numpy()
            gold = rows_f[f"year_{m}"].to_numpy(dtype=float)
            gold = np.where(gold <= last, gold, np.nan)
            both = np.isfinite(ours) & np.isfinite(gold)
            neither = ~np.isfinite(ours) & ~np.isfinite(gold)
            ok = np.where(both, np.abs(ours - gold) <= tol, neither)
            err = np.abs(ours - gold)[both]
            agree.append({"forecaster": forecaster, "milestone": m, "samples": len(rows_f),
                          "tolerance (yr)": tol, "within": f"{100 * ok.mean():.1f}%",
                          "median |error| (yr)": float(np.median(err)) if len(err) else np.nan,
                          "reach differs": int((~both & ~neither).sum())})
            scatter.append(pd.DataFrame({"theirs": gold[both], "ours": ours[both], "milestone": m}))
    charts.save_png(charts.agreement(pd.concat(scatter), "Per-sample milestones: ours against the calculator"),
                    out / "aifm_agreement.png")
    return "\n".join([
        "## 3. AI Futures Project calculator reproduction", "",
        "Compute and software R&D only (the calculator has no economy), from 2012 on its 0.1-yr output grid. "
        "Reference outputs: `data/reference/aifm_golden/` (the calculator run unmodified).", "",
        "**Central (median-parameter) runs**, milestone years:", "", _md_table(central, ".4f"), "",
        f"**Monte Carlo percentiles** ({samples} samples per forecaster, seed 42, to {end:g}; percentiles among runs "
        "that reach the milestone) against the published 10,000-sample run (2012-2200):", "",
        _md_table(pct, ".2f"), "",
        "**Per-sample agreement** with the calculator's own runs of its sampled parameter sets "
        f"({len(frame)} sets; a sample counts when both reach the milestone within the tolerance or neither does):",
        "", _md_table(pd.DataFrame(agree), ".4f"), "", "![agreement](aifm_agreement.png)", ""])


_ROW = re.compile(r"growth ([^,\s]+?)(?:, human labour share ([^,]+?), human wages ([^.]+?))?\.?$")


def takeoff_section(quick: bool) -> str:
    rows = []
    names = [n for n, _ in list_scenarios() if n.startswith("tk_")]
    for name in names[:2] if quick else names:
        scen = load_scenario(name)
        m = _ROW.search(scen.description)
        expected = tuple((g or "").strip() or None for g in m.groups()) if m else (None, None, None)
        with torch.no_grad():
            traj = simulate(scen.central(), scen)
        ours = tuple(traj.classes.get(k, ["—"])[0] for k in ("growth", "labour_share", "wages"))
        match = all(e is None or e == o for e, o in zip(expected, ours))
        rows.append({"scenario": name, "table row (growth / labour share / wages)": " / ".join(e or "—" for e in expected),
                     "simulated": " / ".join(ours), "status": traj.status[0], "match": "yes" if match else "**no**"})
    return "\n".join(["## 4. Takeoff classification (Trammell & Korinek's tables)", "",
                      "Each `tk_*` scenario's central run against the row its file cites (first comment line).", "",
                      _md_table(pd.DataFrame(rows)), ""])


def closed_form_section() -> str:
    rows = []
    # Type II singularity: with phi > 1 and constant research input, B's growth g obeys dg/dt = (phi - 1) g^2,
    # so it blows up at T* = 1 / ((phi - 1) g0) after the start.
    scen = load_scenario("tk_research_phi_above_1")
    p = scen.central()
    phi, g0 = p.scalar("economy.research_feedback_phi"), p.scalar("economy.labor_augmenting_growth")
    with torch.no_grad():
        traj = simulate(p, scen)
    t_star = p.scalar("simulation.start_year") + 1.0 / ((phi - 1.0) * g0)
    got = float(traj.status_year[0])
    rows.append({"check": f"Type II blow-up year, phi = {phi:g}, g0 = {g0:g}", "closed form": t_star, "simulated": got,
                 "relative error": abs(got - t_star) / (t_star - p.scalar("simulation.start_year"))})
    # Exponential horizon: with d = 1 the horizon doubles every T0 years of present-day progress, H(P0 + tau) = 2 H0.
    from sim.updaters.software_rnd.horizon import log_horizon

    h = log_horizon(*(torch.tensor([v], dtype=DTYPE) for v in (1.7, 0.2, 1.5, 1.0, 26.0)))
    rows.append({"check": "horizon at d = 1: H(P0 + tau) = 2 H0", "closed form": 52.0, "simulated": float(torch.exp(h)),
                 "relative error": abs(float(torch.exp(h)) / 52.0 - 1)})
    return "\n".join(["## 5. Closed-form checks", "",
                      "More, with their measured errors, in `sim/updaters/economy/README.md` and the tests.", "",
                      _md_table(pd.DataFrame(rows), ".6g"), ""])


def gradient_section(quick: bool) -> tuple[str, pd.DataFrame]:
    names = (["software_rnd.present_doubling_time", "compute.training_growth_pre_slowdown",
              "simulation.start_year"] if quick else None)
    table = gradient_check("aifm_eli", overrides={"economy.enabled": 0.0}, names=names)
    counts = summary(table)
    shown = table.assign(autograd=table.autograd.map(lambda v: f"{v:.6g}"),
                         finite_difference=table.finite_difference.map(lambda v: f"{v:.6g}"),
                         rel_error=table.rel_error.map(lambda v: "—" if not math.isfinite(v) else f"{v:.1e}"))
    worst = table[table.status == "ok"].rel_error.max()
    econ = _economy_gradient_finite()
    return "\n".join([
        "## 6. Gradient check", "",
        "autograd against central finite differences (one batched simulation of all the ±h rows) of "
        "J = Σ w_m asinh(metric_m(t)) over every recorded metric at 2025, 2026.5 and 2028, `aifm_eli` central run with "
        f"the economy off ({table.attrs['seconds']:.0f} s). Counts: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f". Largest relative error among the parameters that pass: {worst:.1e} (tolerance 1e-3).", "",
        "Statuses: **ok** (within 1e-3), **zero** (no effect on J), **no gradient** (with its reason), "
        "**mismatch** (autograd and finite differences disagree: a path the derivative does not see, to fix in "
        "the updater), **backward fails** (autograd raises). "
        f"With the economy on, {econ}", "",
        _md_table(shown[["name", "value", "autograd", "finite_difference", "rel_error", "status", "reason"]]), ""]), \
        table


def _economy_gradient_finite() -> str:
    scen = load_scenario("aifm_eli")
    p = scen.central()
    p.enable_grad(["software_rnd.present_doubling_time"])
    traj = simulate(p, scen, torch.tensor([2025.0, 2026.0], dtype=DTYPE))
    traj.series["log_gdp"].sum().backward()
    g = float(p["software_rnd.present_doubling_time"].grad[0])
    if math.isfinite(g):
        return f"d(log GDP)/d(present doubling time) is finite ({g:.4g})."
    return ("every gradient is NaN: `sim/updaters/economy/equations.py` `_log_weights` takes log(w) at w = 0 "
            "(the AI task weight at the start), whose backward is inf × 0 (`calibrate` switches the economy off when "
            "no fitted parameter or data series needs it, after checking that the predictions do not change).")


def write_report(out: Path, samples: int = 200, quick: bool = False, log: Callable = print) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if quick:
        samples = min(samples, 16)
    sections = []
    log("METR fit and fans ...")
    text, _ = metr_section(out, samples, quick, log)
    sections.append(text)
    log("economy ...")
    sections.append(economy_section(out, min(samples, 100)))
    log("AI Futures calculator reproduction ...")
    sections.append(aifm_section(out, samples if quick else max(samples, 500), quick))
    log("takeoff table ...")
    sections.append(takeoff_section(quick))
    log("closed forms ...")
    sections.append(closed_form_section())
    log("gradient check ...")
    text, table = gradient_section(quick)
    sections.append(text)
    table.to_csv(out / "gradient_check.csv", index=False)
    head = ["# Validation report", "",
            f"Written by `python -m sim validate{' --quick' if quick else ''}` in {time.perf_counter() - started:.0f} s "
            f"on {time.strftime('%Y-%m-%d')} (torch {torch.__version__}). Data: `data/README.md`; method: "
            "`docs/CALIBRATION.md`.", ""]
    path = out / "README.md"
    path.write_text("\n".join(head + sections), encoding="utf-8")
    return path
