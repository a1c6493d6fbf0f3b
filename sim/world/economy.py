"""The world economy: production factors (state, in logs) and macro metrics.

State is kept in logarithms so that output, capital and technology can grow by many orders of
magnitude (and towards a finite-time singularity) without the solver losing precision. The
equations that move these fields are in ``sim/updaters/economy`` (see its README).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from sim.world.tensor_dataclass import TensorDataclass, metric_field, state_field


@dataclass
class Economy(TensorDataclass):
    # -- state ------------------------------------------------------------------------------------
    log_capital: Tensor = state_field("ln $", "ln K: capital stock (equipment, structures, AI compute, robots)")
    log_capital_tech: Tensor = state_field("ln index", "ln A: capital-augmenting technology (1 at calibration)")
    log_labor_tech: Tensor = state_field("ln index", "ln B: labour-augmenting technology (1 at calibration)")
    log_population: Tensor = state_field("ln persons", "ln N: world population")
    log_cognitive_unautomated: Tensor = state_field(
        "ln fraction", "ln(1 - a_c): share of the start's cognitive human tasks not yet automated by AI")
    log_physical_unautomated: Tensor = state_field(
        "ln fraction", "ln(1 - a_p): share of the start's physical human tasks not yet automated (robotics)")
    log_ai_capital_efficiency: Tensor = state_field(
        "ln index", "ln X: deployed AI efficiency gain multiplying capital in the automated tasks (0 at the start)")

    # -- metrics ----------------------------------------------------------------------------------
    log_gdp: Tensor = metric_field("ln $/yr", "ln Y (finite where Y overflows)")
    gdp: Tensor = metric_field("$/yr", "world output Y")
    gdp_growth: Tensor = metric_field("1/yr", "d ln Y / dt")
    gdp_per_capita: Tensor = metric_field("$/person/yr", "Y / N")
    labor_share: Tensor = metric_field("fraction", "human labour share w L / Y")
    capital_share: Tensor = metric_field("fraction", "capital share MPK K / Y")
    land_share: Tensor = metric_field("fraction", "land (fixed factor) share")
    wage: Tensor = metric_field("$/worker/yr", "human wage = marginal product of labour")
    log_wage: Tensor = metric_field("ln $/worker/yr", "ln of the wage (finite where it over/underflows)")
    wage_growth: Tensor = metric_field("1/yr", "d ln w / dt")
    interest_rate: Tensor = metric_field("1/yr", "marginal product of capital (gross rental rate)")
    capital: Tensor = metric_field("$", "capital stock K")
    population: Tensor = metric_field("persons", "world population N")
    share_tasks_automated: Tensor = metric_field("fraction", "share of tasks done by capital/AI (beta)")
    ai_task_automation: Tensor = metric_field(
        "fraction", "share of the start's human tasks automated by AI since the start (a)")
    labor_tech_growth: Tensor = metric_field("1/yr", "d ln B / dt")
    capital_tech_growth: Tensor = metric_field("1/yr", "d ln A / dt")
