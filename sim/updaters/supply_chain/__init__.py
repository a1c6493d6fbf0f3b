"""The compute supply chain: spending, fabs, packaging, datacenters, power, hardware and construction
R&D, and each nation's installed chips (see README.md in this folder for the equations).

State written: ``nations.*`` (``[B, N]``: chip stock, mean chip age, power per H100e, fab, packaging
and datacenter capacity with their construction pipelines, construction technology) and
``supply_chain.*`` (``[B]``: hardware technology, its lagged research input, the spending share
of GDP). Derived (every evaluation): each nation's operating compute, chip supply
and spending, read by ``sim.updaters.compute`` (each project's share of its owner's compute).
Reads: ``economy.gdp`` (when the economy is on), ``frontier.ai_coding_labor_multiplier`` and
``ai_projects.ai_coding_labor_multiplier`` (AI research input), ``frontier.ai_rnd_uplift`` (the
wake-up marker event). Active when ``compute.supply_chain`` = 1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sim.updaters.base import Event, StateUpdater
from sim.updaters.supply_chain import equations as eq
from sim.world import World, replace

NATION_METRICS = [
    ("compute_stock_h100e", "H100e", "Installed AI chips", True),
    ("operating_compute_h100e", "H100e", "AI chips the built and powered datacenters run", True),
    ("operating_compute_flop_per_year", "FLOP/yr", "Operating compute at H100 peak throughput", True),
    ("share_of_world_compute", "fraction", "Share of the world's operating AI compute", False),
    ("chip_supply_h100e_per_year", "H100e/yr", "AI chips received (production allocated to buyers)", True),
    ("chip_production_h100e_per_year", "H100e/yr", "AI chips made by the nation's fabs", True),
    ("chip_age_years", "yr", "Mean age of the installed chips", False),
    ("kw_per_h100e", "kW/H100e", "All-in power per H100e of the installed chips", True),
    ("fab_capacity_wafers_per_month", "wafers/month", "AI-chip wafer capacity", True),
    ("packaging_capacity_chips_per_year", "chips/yr", "Advanced packaging and HBM capacity", True),
    ("datacenter_capacity_gw", "GW", "AI datacenter capacity built", True),
    ("power_available_gw", "GW", "Grid power available to AI datacenters", True),
    ("powered_capacity_gw", "GW", "Datacenter capacity with power", True),
    ("spending_usd_per_year", "$/yr", "Spending on AI compute", True),
    ("construction_lead_time_years", "yr", "Mean lead time of a new fab or datacenter", False),
]
WORLD_METRICS = [
    ("world_compute_h100e", "H100e", "World operating AI compute", True),
    ("world_compute_stock_h100e", "H100e", "World installed AI chips", True),
    ("world_chip_production_h100e_per_year", "H100e/yr", "World AI-chip production", True),
    ("ai_compute_spending_usd_per_year", "$/yr", "World spending on AI compute", True),
    ("spending_share_of_gdp", "fraction", "World AI-compute spending over world GDP", True),
    ("hardware_efficiency_index", "x", "H100e per new chip relative to the start (hardware R&D)", True),
    ("hardware_efficiency_growth", "1/yr", "Growth of H100e per new chip", False),
    ("compute_wake_up", "fraction", "How far the world has woken up to AI (0 to 1, smooth in automation)", False),
]
#: world-level names whose field in ``supply_chain`` differs
_WORLD_PATHS = {"ai_compute_spending_usd_per_year": "supply_chain.spending_usd_per_year",
                "compute_wake_up": "supply_chain.wake_up"}

METRICS = ([{"name": n, "path": "", "unit": u, "description": d, "log_scale": lg, "actors": "nation"}
            for n, u, d, lg in NATION_METRICS]
           + [{"name": n, "path": _WORLD_PATHS.get(n, "supply_chain." + n), "unit": u, "description": d,
               "log_scale": lg} for n, u, d, lg in WORLD_METRICS])

STAGES = ("fab", "packaging", "datacenter")


class SupplyChain(StateUpdater):
    """Each nation's AI chips from spending, fabs, packaging, datacenters and power."""

    name = "supply_chain"

    @staticmethod
    def active(params) -> bool:
        return ("compute.supply_chain" in params and int(params.scalar("compute.supply_chain")) == 1
                and ("compute.enabled" not in params or params.scalar("compute.enabled") != 0))

    def prepare(self, params, t0: float) -> None:
        self.params = params

        cache: dict[str, Tensor] = {}  # (read once: the hot path looks parameters up by name)

        def g(name: str) -> Tensor:  # global [B] -> [B, 1] (broadcasts over nations)
            value = cache.get(name)
            if value is None:
                value = cache[name] = params[f"supply_chain.{name}"][:, None]
            return value

        def n(name: str) -> Tensor:  # per nation [B, N]
            return params.per_actor(f"supply_chain.{name}", "nation")

        self.g, self.n = g, n
        self.t0 = float(t0)
        self.k = int(params.scalar("supply_chain.construction_stages"))
        self.sharpness = g("constraint_sharpness")
        self.economy_on = "economy.enabled" in params and params.scalar("economy.enabled") != 0
        share = n("spending_share_of_world")
        self.spending_split = share / share.sum(1, keepdim=True)
        self.lead_time0 = {s: g(f"{s}_lead_time") for s in STAGES}
        self.exports, self.access = n("fab_exports"), n("import_access")
        self.log_power0 = torch.log(n("power_available_start"))
        self.log_power_cap = torch.log(n("national_power_gw") * g("power_ceiling_share"))
        self.log_h100e_per_chip0 = torch.log(n("h100e_per_chip_start"))
        self.wafer_chips_per_year = g("chips_per_wafer") * 12.0
        owner = torch.tensor(params.actors.owner_index, dtype=torch.long)
        mask = torch.nn.functional.one_hot(owner, len(params.actors.nations)).to(self.sharpness.dtype)  # [P, N]
        self.log_owner_mask, self.has_project = torch.log(mask)[None], (mask.sum(0) > 0)[None]
        self.temperature = (params["software_rnd.frontier_temperature_ooms"][:, None, None]
                            if "software_rnd.frontier_temperature_ooms" in params else 0.05)

    # -- state at the start ---------------------------------------------------------------------------
    def initialize(self, t0: Tensor, world: World) -> World:
        n, g = self.n, self.g
        stock = n("initial_compute_h100e")
        ones = torch.ones_like(stock)
        capacity = {"fab": n("fab_capacity_start"), "packaging": n("packaging_capacity_start"),
                    "datacenter": n("datacenter_capacity_start")}
        pipelines = {s: eq.steady_pipeline(capacity[s] * g(f"{s}_capacity_growth_start"), self.lead_time0[s] * ones,
                                           self.k) for s in STAGES}
        nations = replace(
            world.nations,
            compute_stock_h100e=stock, chip_years=g("chip_age_start") * stock,
            chip_power_gw=g("kw_per_h100e_start") * stock * 1e-6, fab_capacity_wafers_per_month=capacity["fab"], fab_pipeline=pipelines["fab"],
            packaging_capacity_chips_per_year=capacity["packaging"], packaging_pipeline=pipelines["packaging"],
            datacenter_capacity_gw=capacity["datacenter"], datacenter_pipeline=pipelines["datacenter"],
            log_construction_technology=torch.zeros_like(stock))
        zeros = torch.zeros_like(t0)
        chain = replace(world.supply_chain, log_hardware_technology=zeros, log_hardware_research_input=zeros,
                        log_spending_share=torch.log(self.params["supply_chain.spending_share_start"]).to(t0.dtype))
        return replace(world, nations=nations, supply_chain=chain)

    def start(self, t0: Tensor, world: World) -> None:
        """Per-run constants from the derived start: the funding each capacity's starts scale with and
        the AI coding-labour multipliers that AI research input is measured against."""
        derived = self._flows(t0, world)
        self.funding0 = {s: derived["funding"][s] for s in STAGES}
        self.starts0 = {s: derived["capacity"][s] * self.g(f"{s}_capacity_growth_start") for s in STAGES}
        self.frontier_multiplier0 = _frontier_multiplier(world)
        self.nation_multiplier0 = self._nation_multiplier(world)

    # -- derived values ------------------------------------------------------------------------------------
    def _gdp(self, t: Tensor, world: World) -> Tensor:
        if self.economy_on and world.economy.gdp is not None:
            return world.economy.gdp
        p = self.params
        return p["supply_chain.gdp_without_economy"] * torch.exp(p["supply_chain.gdp_growth_without_economy"]
                                                                 * (t - self.t0))

    def _flows(self, t: Tensor, world: World) -> dict:
        """Every flow of one evaluation (levels in the units of the README)."""
        nat, chain, g = world.nations, world.supply_chain, self.g
        gdp = self._gdp(t, world)
        spending_world = torch.exp(chain.log_spending_share) * gdp  # [B]
        spending = spending_world[:, None] * self.spending_split  # [B, N]
        # chips made: wafers against packaging (smooth minimum), times H100e per chip
        log_a = chain.log_hardware_technology[:, None]
        log_wafer_chips = torch.log(nat.fab_capacity_wafers_per_month * self.wafer_chips_per_year)
        log_chips = eq.log_soft_min(log_wafer_chips, torch.log(nat.packaging_capacity_chips_per_year), self.sharpness)
        if nat.log_localisation is not None:  # export controls: domestic chips improve as tools localise
            log_a = log_a + nat.log_localisation
        production = torch.exp(log_chips + self.log_h100e_per_chip0 + log_a)  # H100e/yr
        access = nat.import_access if nat.import_access is not None else self.access  # state under export controls
        supply = eq.allocate(production, self.exports, spending, access)
        # operating compute: chips against built and powered datacenters
        elapsed = (t - self.t0)[:, None]
        log_power = eq.smooth_growth_cap(self.log_power0, g("power_growth"), elapsed, self.log_power_cap,
                                         self.sharpness)
        log_operating, log_powered = eq.log_operating_compute(
            torch.log(nat.compute_stock_h100e), torch.log(nat.datacenter_capacity_gw), log_power,
            torch.log(nat.chip_power_gw * 1e6 / nat.compute_stock_h100e), self.sharpness)
        funding = self._funding(spending_world, spending)
        capacity = {"fab": nat.fab_capacity_wafers_per_month, "packaging": nat.packaging_capacity_chips_per_year,
                    "datacenter": nat.datacenter_capacity_gw}
        return {"gdp": gdp, "spending_world": spending_world, "spending": spending, "production": production,
                "supply": supply, "log_power": log_power, "log_operating": log_operating,
                "log_powered": log_powered, "funding": funding, "capacity": capacity}

    def _funding(self, spending_world: Tensor, spending: Tensor) -> dict[str, Tensor]:
        """What pays for each capacity: exporting fabs and packaging sell to the world, so world spending;
        a nation that keeps its chips funds its own; datacenters are the nation's own."""
        chips = self.exports * spending_world[:, None] + (1.0 - self.exports) * spending
        return {"fab": chips, "packaging": chips, "datacenter": spending}

    def derive(self, t: Tensor, world: World) -> World:
        f = self._flows(t, world)
        lead = self._lead_time("datacenter", world.nations.log_construction_technology)
        nations = replace(world.nations, operating_compute_h100e=torch.exp(f["log_operating"]),
                          chip_supply_h100e_per_year=f["supply"], spending_usd_per_year=f["spending"],
                          power_available_gw=torch.exp(f["log_power"]), construction_lead_time_years=lead, chip_production_h100e_per_year=f["production"],
                          powered_capacity_gw=torch.exp(f["log_powered"]),
                          compute_stock_growth=f["supply"] / world.nations.compute_stock_h100e - eq.attrition_hazard(
                              world.nations.chip_years / world.nations.compute_stock_h100e, self.g("attrition_h0"),
                              self.g("attrition_h1")))
        chain = replace(world.supply_chain, spending_usd_per_year=f["spending_world"], gdp_usd_per_year=f["gdp"])
        return replace(world, nations=nations, supply_chain=chain)

    def _lead_time(self, stage: str, log_technology: Tensor) -> Tensor:
        return eq.lead_time(self.lead_time0[stage], log_technology, self.g("construction_lead_time_elasticity"),
                            self.g("minimum_lead_time_years"))

    def _nation_multiplier(self, world: World) -> Tensor:
        """[B, N] AI coding-labour multiplier of each nation's leading project (soft maximum over the
        projects it owns, by progress; 1 for a nation without a project)."""
        p = world.ai_projects
        logits = p.progress_ooms[:, :, None] / self.temperature + self.log_owner_mask  # [B, P, N]
        weights = torch.softmax(logits, dim=1).nan_to_num(0.0)
        m = (weights * p.ai_coding_labor_multiplier[:, :, None]).sum(1)
        return torch.where(self.has_project, m, torch.ones_like(m))

    # -- derivatives ------------------------------------------------------------------------------------------
    def contribute_state_derivatives(self, t: Tensor, world: World) -> dict[str, Tensor]:
        nat, chain, g, p = world.nations, world.supply_chain, self.g, self.params
        # (the flows of this evaluation were derived in ``derive``)
        funding = self._funding(chain.spending_usd_per_year, nat.spending_usd_per_year)
        # chips installed
        log_a = chain.log_hardware_technology[:, None]
        kw_new = g("kw_per_h100e_start") * torch.exp(-g("energy_efficiency_elasticity") * log_a)
        d_stock, d_years, d_power = eq.stock_rates(nat.compute_stock_h100e, nat.chip_years, nat.chip_power_gw,
                                                   nat.chip_supply_h100e_per_year, kw_new, g("attrition_h0"), g("attrition_h1"))
        out = {"nations.compute_stock_h100e": d_stock, "nations.chip_years": d_years, "nations.chip_power_gw": d_power}
        # construction: starts scale with funding, cheaper and faster with construction technology
        log_b = nat.log_construction_technology
        cheaper = torch.exp(g("construction_cost_elasticity") * log_b)
        for stage, field in (("fab", "fab_capacity_wafers_per_month"),
                             ("packaging", "packaging_capacity_chips_per_year"),
                             ("datacenter", "datacenter_capacity_gw")):
            starts = self.starts0[stage] * funding[stage] / self.funding0[stage] * cheaper
            d_pipe, completed = eq.pipeline_rates(getattr(nat, f"{stage}_pipeline"), starts,
                                                  self._lead_time(stage, log_b))
            out[f"nations.{stage}_pipeline"] = d_pipe
            out[f"nations.{field}"] = completed
        # construction R&D per nation (AI and robotics raise its input)
        m_nation = self._nation_multiplier(world) / self.nation_multiplier0
        log_cap = torch.log(g("ai_research_input_cap"))
        log_input = eq.ai_research_input(torch.zeros_like(log_b), m_nation, g("construction_ai_elasticity"), log_cap,
                                         self.sharpness)
        out["nations.log_construction_technology"] = eq.semi_endogenous_growth(
            g("construction_growth_start"), log_input, log_b, g("construction_returns"), torch.ones_like(log_b),
            torch.full_like(log_b, 1e3))
        # hardware R&D (world): lagged research input, semi-endogenous stock with a ceiling
        m_frontier = _frontier_multiplier(world) / self.frontier_multiplier0
        elapsed = t - self.t0
        log_input = eq.ai_research_input(p["supply_chain.hardware_research_growth"] * elapsed, m_frontier,
                                         p["supply_chain.hardware_ai_elasticity"], log_cap[:, 0], self.sharpness[:, 0])
        out["supply_chain.log_hardware_research_input"] = (log_input - chain.log_hardware_research_input) \
            / p["supply_chain.hardware_rnd_delay"]
        out["supply_chain.log_hardware_technology"] = self._hardware_growth(chain)
        # spending share: logistic towards its ceiling, faster after the wake-up
        growth = p["supply_chain.spending_growth_before_wake_up"] + self._awake(world) * (
            p["supply_chain.spending_growth_after_wake_up"] - p["supply_chain.spending_growth_before_wake_up"])
        out["supply_chain.log_spending_share"] = growth * (
            1.0 - torch.exp(chain.log_spending_share) / p["supply_chain.spending_share_ceiling"])
        return out

    def _hardware_growth(self, chain) -> Tensor:
        """d ln A/dt of the hardware R&D stock (1/yr)."""
        p = self.params
        return eq.semi_endogenous_growth(
            p["supply_chain.hardware_growth_start"], chain.log_hardware_research_input, chain.log_hardware_technology,
            p["supply_chain.hardware_returns"], p["supply_chain.hardware_parallelisation"],
            p["supply_chain.hardware_ceiling_ooms"] * math.log(10.0))

    def divergence_rate(self, t: Tensor, world: World) -> Tensor:
        """The fastest growth of a capacity (completions / capacity, 1/yr): it blows up with the
        spending of an economy heading for a finite-time singularity."""
        nat = world.nations
        rates = []
        for stage, field in (("fab", "fab_capacity_wafers_per_month"),
                             ("packaging", "packaging_capacity_chips_per_year"),
                             ("datacenter", "datacenter_capacity_gw")):
            pipeline = getattr(nat, f"{stage}_pipeline")
            completed = pipeline[..., -1] * self.k / self._lead_time(stage, nat.log_construction_technology)
            rates.append((completed / getattr(nat, field)).amax(1))
        return torch.stack(rates).amax(0)

    # -- metrics ----------------------------------------------------------------------------------------------------
    def set_metric_attributes(self, t: Tensor, world: World) -> World:
        nat, chain = world.nations, world.supply_chain
        operating = nat.operating_compute_h100e
        world_compute = operating.sum(1)
        flop = (self.params["compute.h100_peak_flop_per_second"] * self.params["compute.seconds_per_year"])[:, None]
        nations = replace(nat, operating_compute_flop_per_year=operating * flop,
                          chip_age_years=nat.chip_years / nat.compute_stock_h100e,
                          kw_per_h100e=nat.chip_power_gw * 1e6 / nat.compute_stock_h100e,
                          share_of_world_compute=operating / world_compute[:, None])
        d_log_a = self._hardware_growth(chain)
        chain = replace(chain, wake_up=self._awake(world), world_compute_h100e=world_compute, world_compute_stock_h100e=nat.compute_stock_h100e.sum(1),
                        world_chip_production_h100e_per_year=nat.chip_production_h100e_per_year.sum(1),
                        spending_share_of_gdp=torch.exp(chain.log_spending_share),
                        hardware_efficiency_index=torch.exp(chain.log_hardware_technology), hardware_efficiency_growth=d_log_a)
        return replace(world, nations=nations, supply_chain=chain)

    def _wake_up_signal(self, world: World) -> Tensor:
        """Frontier automation fraction above the wake-up threshold (< 0 before the wake-up)."""
        automation = world.frontier.automation_fraction
        if automation is None:
            return torch.full_like(world.time, -1.0)
        return automation - self.params["supply_chain.wake_up_automation_fraction"]

    def _awake(self, world: World) -> Tensor:
        """How far the world has woken up: sigmoid((A − A_wake)/width), 0 long before, 1 after."""
        return torch.sigmoid(self._wake_up_signal(world) / self.params["supply_chain.wake_up_width"])

    def events(self) -> list[Event]:
        """``compute_wake_up``, a marker: the year the frontier's automation passes the threshold (the
        switch itself is smooth, ``_awake``, so it costs no sub-steps and passes gradients)."""
        return [Event("compute_wake_up", lambda t, world: self._wake_up_signal(world), None)]


def _frontier_multiplier(world: World) -> Tensor:
    m = world.frontier.ai_coding_labor_multiplier
    return m if m is not None else torch.ones_like(world.time)


UPDATER = SupplyChain

__all__ = ["METRICS", "UPDATER", "SupplyChain"]
