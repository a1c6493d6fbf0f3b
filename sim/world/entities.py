"""Nations (a table over the world's nations) and the actors later modules add (coalitions, policies).

``World.nations`` holds every nation at once: each tensor is ``[B, N]`` (samples × nations, ``ids``
in the world's order). The compute supply chain (``sim.updaters.supply_chain``) adds its per-nation
state and metrics here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from sim.world.tensor_dataclass import TensorDataclass, metric_field, state_field


@dataclass
class Nations(TensorDataclass):
    """Every nation of the world (``[B, N]`` tensors; construction pipelines ``[B, N, k]``)."""

    ids: tuple[str, ...] = ()
    # -- state (sim.updaters.supply_chain) ----------------------------------------------------------
    compute_stock_h100e: Tensor = state_field("H100e", "functional AI chips installed in the nation")
    chip_years: Tensor = state_field("H100e·yr", "Z = mean chip age × chips (the mean-age closure)")
    chip_power_gw: Tensor = state_field("GW", "W: all-in power draw of the installed chips (server, cooling)")
    fab_capacity_wafers_per_month: Tensor = state_field("wafers/month", "AI-chip wafer capacity of the nation's fabs")
    fab_pipeline: Tensor = state_field("wafers/month", "fab capacity under construction, by stage [B, N, k]")
    packaging_capacity_chips_per_year: Tensor = state_field("chips/yr", "advanced packaging and memory capacity")
    packaging_pipeline: Tensor = state_field("chips/yr", "packaging capacity under construction, by stage")
    datacenter_capacity_gw: Tensor = state_field("GW", "AI datacenter capacity built")
    datacenter_pipeline: Tensor = state_field("GW", "datacenter capacity under construction, by stage")
    log_construction_technology: Tensor = state_field("ln index", "construction R&D stock (0 at the start)")
    # -- state (sim.updaters.export_controls; absent when that module is off) -------------------------
    import_access: Tensor = state_field("fraction", "share of its spending-weighted world chip market the nation can "
                                        "buy; changed only by export-control events")
    export_controlled: Tensor = state_field("0/1", "1 once an export control on the nation is in force")
    log_localisation: Tensor = state_field("ln index", "ln of the domestic-chip quality gain from localising "
                                           "chip-making tools under export controls (0 at the start)")
    # -- derived (every evaluation) -----------------------------------------------------------------
    operating_compute_h100e: Tensor = metric_field("H100e", "chips the built and powered datacenters can run")
    chip_supply_h100e_per_year: Tensor = metric_field("H100e/yr", "chips the nation receives (production allocated)")
    compute_stock_growth: Tensor = metric_field("1/yr", "d ln(chip stock)/dt = supply/stock − hazard")
    spending_usd_per_year: Tensor = metric_field("$/yr", "the nation's spending on AI compute")
    construction_lead_time_years: Tensor = metric_field("yr", "mean lead time of a fab or datacenter")
    power_available_gw: Tensor = metric_field("GW", "grid power available to AI datacenters")
    # -- metrics --------------------------------------------------------------------------------------
    chip_age_years: Tensor = metric_field("yr", "mean age of the installed chips, Z/C")
    kw_per_h100e: Tensor = metric_field("kW/H100e", "all-in power per installed H100e, W/C")
    operating_compute_flop_per_year: Tensor = metric_field("FLOP/yr", "operating compute at H100 peak throughput")
    share_of_world_compute: Tensor = metric_field("fraction", "the nation's share of the world's operating compute")
    chip_production_h100e_per_year: Tensor = metric_field("H100e/yr", "chips made by the nation's fabs")
    powered_capacity_gw: Tensor = metric_field("GW", "datacenter capacity with power (soft minimum)")


@dataclass
class SupplyChain(TensorDataclass):
    """World-level state of the compute supply chain (``[B]`` tensors)."""

    # -- state ------------------------------------------------------------------------------------
    log_hardware_technology: Tensor = state_field("ln index", "hardware R&D stock A: H100e per chip (0 at start)")
    log_hardware_research_input: Tensor = state_field(
        "ln index", "hardware research input after the R&D delay (0 at the start)")
    log_spending_share: Tensor = state_field("ln fraction", "ln of the share of world GDP spent on AI compute")
    # -- derived / metrics -----------------------------------------------------------------------------
    wake_up: Tensor = metric_field("fraction", "how far the world has woken up to AI (smooth in automation)")
    spending_usd_per_year: Tensor = metric_field("$/yr", "world spending on AI compute")
    gdp_usd_per_year: Tensor = metric_field("$/yr", "world GDP the spending is a share of")
    spending_share_of_gdp: Tensor = metric_field("fraction", "AI compute spending / world GDP")
    hardware_efficiency_index: Tensor = metric_field("x", "H100e per new chip relative to the start (hardware R&D)")
    world_compute_h100e: Tensor = metric_field("H100e", "world operating AI compute")
    world_compute_stock_h100e: Tensor = metric_field("H100e", "world installed AI chips")
    world_chip_production_h100e_per_year: Tensor = metric_field("H100e/yr", "world chip production")
    hardware_efficiency_growth: Tensor = metric_field("1/yr", "d ln(H100e per chip)/dt")


@dataclass
class Agreement(TensorDataclass):
    """One slowdown agreement (``[B]`` tensors; ``sim.updaters.agreements``)."""

    id: str = ""
    phase: Tensor = state_field("0-4", "0 none, 1 negotiating, 2 signed, 3 in force and verified, 4 collapsed")
    cap_ooms: Tensor = state_field("OOMs", "cap on the signatories' largest run (training-gain scale) when in force")
    cap_since: Tensor = state_field("yr", "year the cap took effect (its allowed growth counts from here)")
    in_force: Tensor = metric_field("0/1", "1 while the phase is 3 (in force and verified)")


@dataclass
class Covert(TensorDataclass):
    """Hidden AI projects and the evidence about them (``[B, P]`` over every project; zero for the
    projects that are not hidden; ``sim.updaters.covert``)."""

    stock_h100e: Tensor = state_field("H100e", "chips diverted to the hidden project")
    elapsed_years: Tensor = state_field("yr", "years the project has run hidden (the detection clock)")
    leaked: Tensor = state_field("0/1", "1 once direct evidence (a leak from the workforce) has surfaced")
    detected: Tensor = state_field("0/1", "1 once the posterior passed the detection threshold")
    diverting: Tensor = metric_field("0/1", "1 while the owner diverts compute (an agreement in force)")
    workforce: Tensor = metric_field("people", "workforce of the hidden project")
    log_odds: Tensor = metric_field("ln odds", "posterior log-odds that the project exists")
    posterior: Tensor = metric_field("probability", "posterior probability that the project exists")
    detection_probability: Tensor = metric_field("probability", "P(direct evidence by now): 1 - S_Gamma")
    expected_detection_year: Tensor = metric_field("yr", "start of hiding + mean time to detection at today's workforce")
    share_of_owner_compute: Tensor = metric_field("fraction", "hidden stock over the owner nation's chips")


@dataclass
class Coalition(TensorDataclass):
    """A group of nations acting together (e.g. parties to a slowdown agreement)."""

    id: str = ""
    members: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class AIPolicy(TensorDataclass):
    """A policy lever; ``enacted`` is 0 before its event fires and 1 after."""

    id: str = ""
    enacted: Tensor = metric_field("0/1", "whether the policy is in force")
