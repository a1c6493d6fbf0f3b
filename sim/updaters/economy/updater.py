"""EconomyUpdater: integrates the world economy and records its metrics (equations in README.md)."""

from __future__ import annotations

import torch
from torch import Tensor

from sim.updaters.base import StateUpdater
from sim.updaters.economy import equations as eq
from sim.updaters.software_rnd.automation import automation_fraction
from sim.world import Economy, World, replace

P = "economy."

#: Central-difference half step (years) for the growth-rate metrics d ln Y/dt and d ln w/dt.
_FD_STEP = 1e-4

#: ``economy.automation_source`` values.
AUTOMATION_NONE, AUTOMATION_LOGISTIC, AUTOMATION_AI = 0, 1, 2

_STATE = ("log_capital", "log_capital_tech", "log_labor_tech", "log_population", "log_cognitive_unautomated",
          "log_physical_unautomated", "log_ai_capital_efficiency")


class EconomyUpdater(StateUpdater):
    """World output from a normalised CES nest of capital, human labour, AI/robots and land.

    State: ``economy.log_capital``, ``log_capital_tech``, ``log_labor_tech``, ``log_population``,
    ``log_cognitive_unautomated``, ``log_physical_unautomated``, ``log_ai_capital_efficiency``.
    Derived (every evaluation, from its own state alone): ``log_gdp``, ``gdp``. Reads the frontier's
    progress, coding-automation schedule and software efficiency (derived by software R&D) for
    samples with ``economy.automation_source`` = 2.
    """

    name = "economy"
    required_series = ("log_gdp", "gdp_growth", "ai_task_automation", "labor_share", "log_wage")
    # The divergence indicator: the fastest growth rate among capital and both technologies (1/yr).
    # Output can only diverge in finite time if one of them does: ln Y is a homogeneous-of-degree-one
    # aggregate of their log ratios plus bounded automation terms.
    growth_rate_fields = ("economy.log_capital", "economy.log_capital_tech", "economy.log_labor_tech")

    # -- preparation ---------------------------------------------------------------------------
    def prepare(self, params, t0: float) -> None:
        self.params = params

        # Look each parameter up once (the module's __getattr__ is slow on the solver's hot path);
        # the cached tensors are the parameters themselves, so gradients still flow.
        cache = {n[len(P):]: params[n] for n in params.names if n.startswith(P)}

        def p(name: str) -> Tensor:
            return cache[name]

        self.p = p
        self.t0 = float(t0)
        structure = eq.Structure(
            rho=p("substitution_rho"), rho_robot=p("robot_production_rho"),
            rho_equipment=p("equipment_substitution_rho"), rho_land=p("land_substitution_rho"),
            beta0=p("labor_share"), robot_capital_weight=p("robot_production_capital_weight"),
            equipment_share=p("equipment_share"), land_share=p("land_share"),
            profitable_automation=p("profitable_automation"))
        beta0 = eq.calibrate_beta0(p("labor_share"), structure.land_share, structure.equipment_share,
                                   structure.robot_capital_weight)
        bad = ~((beta0 > 0) & (beta0 < 1))
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            raise ValueError(
                f"economy: labour share {float(p('labor_share')[i]):g} is not reachable with land share "
                f"{float(structure.land_share[i]):g}, equipment share {float(structure.equipment_share[i]):g} and "
                f"robot-production capital weight {float(structure.robot_capital_weight[i]):g} (sample {i}): "
                "need (1 - kappa) < 1 - labor_share / ((1 - land_share)(1 - equipment_share)) < 1 ... i.e. "
                "0 < beta0 < 1")
        self.structure = eq.with_identity_flags(structure._replace(beta0=beta0))

        # Levels at the start t0, back-cast from the calibration year along the pre-AI balanced path.
        back = p("calibration_year") - self.t0
        g_b, n, g_a = p("labor_augmenting_growth"), p("population_growth"), p("capital_augmenting_growth")
        self.log_y0 = torch.log(p("gdp")) - (g_b + n) * back
        self.log_k0 = self.log_y0 + torch.log(p("capital_output_ratio"))
        self.log_n0 = torch.log(p("population")) - n * back
        self.log_participation = torch.log(p("labor_force_participation"))
        self.log_a0 = -g_a * back  # normalisation point of A (before the one-off multiplier)
        self.log_a_start = self.log_a0 + torch.log(p("capital_augmenting_multiplier"))
        self.log_b0 = -g_b * back
        self.log_research_shift = torch.log(p("researcher_share") / p("researcher_share_calibration"))
        self.source = p("automation_source").detach()
        self.uses_ai = bool((self.source == AUTOMATION_AI).any())
        self.uses_logistic = bool((self.source == AUTOMATION_LOGISTIC).any())
        self.all_ai = bool((self.source == AUTOMATION_AI).all())
        # exogenous technology for every sample: the idea-production law reduces to its base rate
        self.endogenous_b = bool((p("endogenous_research") != 0).any())
        self.endogenous_a = bool((p("endogenous_capital_research") != 0).any())
        self.log_target0 = torch.zeros_like(beta0)

    # -- AI signals ------------------------------------------------------------------------------
    def _targets(self, t: Tensor, world: World) -> tuple[Tensor, Tensor]:
        """(ln(1 − a_c*), ln X*) per sample: what AI can automate of the start's cognitive tasks
        (relative to the start) and the AI efficiency gain of capital in AI-automated tasks.

        AI-driven samples read the frontier's coding-automation schedule (software R&D's own
        per-sample logistic in progress P) at P − lag: economy-wide cognitive work follows coding
        automation ``cognitive_automation_lag_ooms`` of progress later; and its software efficiency,
        relative to the start."""
        p = self.p
        zero = torch.zeros_like(t)
        target = zero
        if self.uses_logistic:
            logistic = eq.logistic_log_unautomated(t, p("automation_midpoint_year"), p("automation_logistic_rate"))
            target = torch.where(self.source == AUTOMATION_LOGISTIC, logistic, zero)
        efficiency = zero
        if self.uses_ai:
            f = world.frontier
            if f is None or f.progress_ooms is None:
                raise ValueError("economy.automation_source = 2 (AI modules) needs the compute and software_rnd "
                                 "modules; switch them on or use automation_source 0 or 1")
            cognitive = automation_fraction(f.progress_ooms - p("cognitive_automation_lag_ooms"), f.automation_slope,
                                            f.automation_midpoint_ooms, f.automation_asymptote)
            log_target = eq.log_one_minus(cognitive)
            efficiency = p("ai_capital_efficiency_elasticity") * eq.LN10 * (f.software_efficiency_ooms
                                                                            - self.software_efficiency0)
            if not self.all_ai:
                target = torch.where(self.source == AUTOMATION_AI, log_target, target)
                efficiency = torch.where(self.source == AUTOMATION_AI, efficiency, zero)
            else:
                target = log_target
        return target - self.log_target0, efficiency

    def initialize(self, t0: Tensor, world: World) -> World:
        zero = torch.zeros_like(t0)

        def start(value: Tensor) -> Tensor:
            return value.to(t0.dtype).expand_as(t0).clone()

        economy = replace(
            world.economy, log_capital=start(self.log_k0), log_capital_tech=start(self.log_a_start),
            log_labor_tech=start(self.log_b0), log_population=start(self.log_n0),
            log_cognitive_unautomated=zero, log_physical_unautomated=zero.clone(),
            log_ai_capital_efficiency=zero.clone())
        return replace(world, economy=economy)

    def start(self, t0: Tensor, world: World) -> None:
        """Automation and software efficiency are counted from their values at the start."""
        self.software_efficiency0 = world.frontier.software_efficiency_ooms.detach() if self.uses_ai else 0.0
        self.log_target0 = torch.zeros_like(t0)
        self.log_target0 = self._targets(t0, world)[0].detach()

    # -- the model ---------------------------------------------------------------------------------
    def _production(self, t: Tensor, e: Economy, shares: bool = True) -> eq.Production:
        p = self.p
        dt = t - self.t0
        z = eq.unautomated_share(p("ai_task_share"), e.log_cognitive_unautomated, e.log_physical_unautomated)
        return eq.production(
            self.structure,
            k=e.log_capital - self.log_k0,
            a=e.log_capital_tech - self.log_a0,
            l=e.log_population - self.log_n0,
            b=e.log_labor_tech - self.log_b0,
            z=z,
            a_equipment=p("equipment_augmenting_growth") * dt,
            a_land=p("land_augmenting_growth") * dt,
            x=e.log_ai_capital_efficiency if self.uses_ai else None,
            shares=shares,
        )

    def derive(self, t: Tensor, world: World) -> World:
        """World output from the economy's own state (what the supply chain spends a share of)."""
        log_y = self.log_y0 + self._production(t, world.economy, shares=False).log_output_ratio
        return replace(world, economy=replace(world.economy, log_gdp=log_y, gdp=torch.exp(log_y)))

    def _rates(self, t: Tensor, world: World) -> dict[str, Tensor]:
        """d/dt of every economy state field (``world`` derived: its output and the AI signals)."""
        p, e = self.p, world.economy
        log_y = e.log_gdp
        d_log_k = p("savings_rate") * torch.exp((log_y - e.log_capital).clamp_max(eq.MAX_EXPONENT)) \
            - p("depreciation")
        log_research = (e.log_population - self.log_n0) + self.log_research_shift
        phi, lam = p("research_feedback_phi"), p("research_lambda")
        d_log_b, d_log_a = p("labor_augmenting_growth"), p("capital_augmenting_growth")
        if self.endogenous_b:
            d_log_b = eq.idea_growth(d_log_b, phi, lam, e.log_labor_tech - self.log_b0, log_research,
                                     p("endogenous_research"))
        if self.endogenous_a:
            d_log_a = eq.idea_growth(d_log_a, phi, lam, e.log_capital_tech - self.log_a_start, log_research,
                                     p("endogenous_capital_research"))
        target, efficiency = self._targets(t, world)
        lag = p("automation_adoption_lag")
        return {
            "log_capital": d_log_k,
            "log_capital_tech": d_log_a,
            "log_labor_tech": d_log_b,
            "log_population": p("population_growth").expand_as(d_log_k),
            "log_cognitive_unautomated": eq.relax_log_unautomated(e.log_cognitive_unautomated, target, lag),
            "log_physical_unautomated": eq.relax_log_unautomated(
                e.log_physical_unautomated, e.log_cognitive_unautomated, p("physical_automation_lag")),
            "log_ai_capital_efficiency": (efficiency - e.log_ai_capital_efficiency) / lag,
        }

    def contribute_state_derivatives(self, t: Tensor, world: World) -> dict[str, Tensor]:
        return {"economy." + k: v for k, v in self._rates(t, world).items()}


    # -- metrics -------------------------------------------------------------------------------------
    def _log_output_and_wage(self, t: Tensor, e: Economy) -> tuple[Tensor, Tensor, eq.Production]:
        prod = self._production(t, e)
        log_y = self.log_y0 + prod.log_output_ratio
        log_w = prod.log_labor_elasticity + log_y - (e.log_population + self.log_participation)
        return log_y, log_w, prod

    def set_metric_attributes(self, t: Tensor, world: World) -> World:
        e = world.economy
        log_y, log_w, prod = self._log_output_and_wage(t, e)
        rates = self._rates(t, world)
        # Growth rates: central difference along the state's own time derivative (exact to O(h²)).
        h = _FD_STEP

        def shifted(sign: float) -> Economy:
            return replace(e, **{k: getattr(e, k) + sign * h * rates[k] for k in _STATE})

        log_y_p, log_w_p, _ = self._log_output_and_wage(t + h, shifted(1.0))
        log_y_m, log_w_m, _ = self._log_output_and_wage(t - h, shifted(-1.0))
        z = eq.unautomated_share(self.p("ai_task_share"), e.log_cognitive_unautomated, e.log_physical_unautomated)
        economy = replace(
            e,
            log_gdp=log_y,
            gdp=torch.exp(log_y),
            gdp_growth=(log_y_p - log_y_m) / (2 * h),
            gdp_per_capita=torch.exp(log_y - e.log_population),
            labor_share=prod.labor_elasticity,
            capital_share=prod.capital_elasticity,
            land_share=prod.land_share,
            wage=torch.exp(log_w),
            log_wage=log_w,
            wage_growth=(log_w_p - log_w_m) / (2 * h),
            interest_rate=prod.capital_elasticity * torch.exp(log_y - e.log_capital),
            capital=torch.exp(e.log_capital),
            population=torch.exp(e.log_population),
            share_tasks_automated=prod.share_tasks_automated,
            ai_task_automation=-torch.expm1(z),
            labor_tech_growth=rates["log_labor_tech"],
            capital_tech_growth=rates["log_capital_tech"],
        )
        return replace(world, economy=economy)

    # -- per-run results -------------------------------------------------------------------------------
    def run_metrics(self, years: Tensor, series) -> dict[str, Tensor]:
        from sim import takeoff

        needed = [_get(series, n) for n in ("log_gdp", "gdp_growth", "ai_task_automation")]
        if any(x is None for x in needed):  # not recorded (simulate(record=...))
            return {}
        return takeoff.takeoff_metrics(years, *needed, self.params)

    def classify(self, years: Tensor, series, status: list[str], status_year: Tensor) -> dict[str, list[str]]:
        from sim import takeoff

        log_gdp, labor_share, log_wage = (_get(series, n) for n in ("log_gdp", "labor_share", "log_wage"))
        if log_gdp is None or labor_share is None or log_wage is None:
            return {}
        return takeoff.classify(years, log_gdp=log_gdp, labor_share=labor_share, log_wage=log_wage, status=status,
                                status_year=status_year, thresholds=takeoff.Thresholds.from_params(self.params))


def _get(series, name: str) -> Tensor | None:
    if name in series:
        return series[name]
    return series.get("economy." + name)


__all__ = ["AUTOMATION_AI", "AUTOMATION_LOGISTIC", "AUTOMATION_NONE", "EconomyUpdater"]
