"""The world economy (see README.md in this folder for equations, parameters and sources).

State written: ``economy.log_capital``, ``log_capital_tech``, ``log_labor_tech``, ``log_population``,
``log_cognitive_unautomated``, ``log_physical_unautomated``, ``log_ai_capital_efficiency``. Reads the
frontier AI project (``World.frontier``, derived by software R&D) when ``economy.automation_source`` = 2.
Per-run results: FTM-style takeoff metrics and Trammell-Korinek takeoff classes (``sim.takeoff``).
"""

from __future__ import annotations

from sim.takeoff import RUN_METRIC_DOCS
from sim.updaters.economy.updater import EconomyUpdater

_PATH = "economy."


def _m(name: str, unit: str, description: str, log_scale: bool = False) -> dict:
    return dict(name=name, path=_PATH + name, unit=unit, description=description, log_scale=log_scale)


#: Metric catalogue entries of this module (series over time).
METRICS = [
    _m("gdp", "$/yr", "World output Y, at 2024 prices", True),
    _m("log_gdp", "ln $/yr", "ln Y (stays finite where Y overflows)"),
    _m("gdp_growth", "1/yr", "GDP growth rate d ln Y/dt"),
    _m("gdp_per_capita", "$/person/yr", "Output per person Y/N", True),
    _m("labor_share", "fraction", "Human labour share of output, w L / Y (from the marginal product)"),
    _m("capital_share", "fraction", "Capital share of output, MPK K / Y"),
    _m("land_share", "fraction", "Share of output paid to land (the fixed factor)"),
    _m("wage", "$/worker/yr", "Human wage: marginal product of labour", True),
    _m("log_wage", "ln $/worker/yr", "ln of the human wage"),
    _m("wage_growth", "1/yr", "Growth rate of the human wage d ln w/dt"),
    _m("interest_rate", "1/yr", "Marginal product of capital (gross rental rate; net = minus depreciation)"),
    _m("capital", "$", "Capital stock K (incl. AI compute and robots)", True),
    _m("population", "persons", "World population", True),
    _m("share_tasks_automated", "fraction", "Share of tasks done by capital, robots and AI (beta)"),
    _m("ai_task_automation", "fraction", "Share of the start's human tasks automated by AI since the start"),
    _m("labor_tech_growth", "1/yr", "Growth rate of labour-augmenting technology B"),
    _m("capital_tech_growth", "1/yr", "Growth rate of capital-augmenting technology A"),
]

#: Per-run results (one value per sample).
RUN_METRICS = [dict(name=name, path="", unit=unit, description=description)
               for name, (unit, description) in RUN_METRIC_DOCS.items()]

UPDATER = EconomyUpdater

__all__ = ["METRICS", "RUN_METRICS", "UPDATER", "EconomyUpdater"]
