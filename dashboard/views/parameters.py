"""Parameters: every input with its value, unit, distribution, source and updater; which ones matter."""

import streamlit as st

from dashboard import meta, store, ui

st.title("Parameters")
st.caption(
    "Every model input, as the ensemble was computed with it, and a sensitivity analysis from the stored runs."
)

if not ui.require_store():
    st.stop()

labels = list(store.choices())
c1, c2 = st.columns([2, 3])
with c1:
    scenario = st.selectbox("Scenario", labels, key="scenario", bind="query-params")
table = meta.parameter_table(scenario)
if table.empty:
    st.warning("No parameter table for this ensemble.")
    st.stop()

# ------------------------------------------------------------------------------------------- table
baseline = meta.parameter_table("baseline") if scenario != "baseline" and "baseline" in labels else None
if baseline is not None and not baseline.empty:
    ref = baseline.set_index("name")
    table["vs baseline"] = [
        ""
        if n not in ref.index
        else (
            "changed"
            if (str(ref.loc[n, "distribution"]) != str(d) or float(ref.loc[n, "value"]) != float(v))
            else ""
        )
        for n, d, v in zip(table["name"], table["distribution"], table["value"])
    ]
modules = sorted(table["module"].dropna().unique())
with c2:
    f1, f2 = st.columns([2, 2])
    with f1:
        chosen = st.multiselect("Modules", modules, default=[], key="modules", placeholder="all modules")
    with f2:
        needle = st.text_input("Filter by name or description", key="filter", placeholder="e.g. doubling")
shown = table if not chosen else table[table["module"].isin(chosen)]
if needle:  # plain substring match in pandas: user text never reaches SQL
    hay = (shown["name"].fillna("") + " " + shown["description"].fillna("")).str.lower()
    shown = shown[hay.str.contains(needle.lower(), regex=False)]
columns = [
    c
    for c in [
        "name",
        "actor",
        "value",
        "unit",
        "distribution",
        "p10",
        "p90",
        "min",
        "max",
        "vs baseline",
        "updater",
        "source",
        "description",
    ]
    if c in shown.columns
]
display = shown[columns].copy()
for c in ("value", "p10", "p90", "min", "max"):  # parameters span 1e-3 .. 1e15: 4 significant digits each
    if c in display:
        display[c] = [f"{v:.4g}" if isinstance(v, (int, float)) else "" for v in display[c]]
st.dataframe(
    display,
    hide_index=True,
    width="stretch",
    height=420,
    column_config={
        "value": st.column_config.TextColumn("value (central)"),
        "p10": st.column_config.TextColumn("10th pct"),
        "p90": st.column_config.TextColumn("90th pct"),
        "min": st.column_config.TextColumn("hard min"),
        "max": st.column_config.TextColumn("hard max"),
        "source": st.column_config.TextColumn(width="medium"),
        "description": st.column_config.TextColumn(width="large"),
    },
)
st.caption(
    f"{len(shown)} of {len(table)} parameters. `distribution` is what the Monte Carlo samples "
    "(`point` = fixed); 10th/90th percentiles are its plausible range; `updater` is the simulator "
    "module that reads it."
)
ui.download(shown[columns], f"parameters_{scenario}")

# ----------------------------------------------------------------------------------- per-actor values
per_actor = table[table["actor"].astype(str) != ""]
if not per_actor.empty:
    st.subheader("Per-actor parameters")
    order = list(dict.fromkeys(store.actors(list(store.resolve([scenario]).values()))["actor"]))
    actors_here = [a for a in order if a in set(per_actor["actor"])] + sorted(set(per_actor["actor"]) - set(order))

    def _cell(row) -> str:
        text = f"{row['value']:.4g}" if isinstance(row["value"], (int, float)) else str(row["value"])
        if str(row.get("distribution", "point")) != "point" and all(
            isinstance(row.get(c), (int, float)) for c in ("p10", "p90")
        ):
            text += f" ({row['p10']:.3g}–{row['p90']:.3g})"
        return text

    grid = per_actor.assign(cell=per_actor.apply(_cell, axis=1), unit=per_actor["unit"].fillna("")).pivot_table(
        index=["template", "unit"], columns="actor", values="cell", aggfunc="first"
    )
    grid = grid.reindex(columns=actors_here).reset_index()
    grid.columns.name = None
    st.dataframe(grid.fillna("—"), hide_index=True, width="stretch")
    st.caption(
        ui.md(
            "Parameters set per actor are named `module.ACTOR.parameter`; one row per template (`module.parameter`), "
            "one column per actor: central value and, where sampled, its 10–90 % range. `—`: the actor has no value "
            "of its own for it (see the table above for what applies)."
        )
    )
    ui.download(per_actor[["template", "actor", *[c for c in columns if c not in ("name", "actor")]]],
                f"parameters_per_actor_{scenario}")

# ------------------------------------------------------------------------------------- sensitivity
st.subheader("Which assumptions matter")
ids = store.resolve([scenario])
outcomes = store.outcomes()
if not outcomes:
    st.info("No outcomes stored.")
    st.stop()
preferred = [o for o in ("AC year", "ASI year") if o in outcomes]
preferred += [o for o in outcomes if "peak" in o and "growth" in o and not o.endswith("year")]
names = preferred + [o for o in outcomes if o not in preferred]
s1, s2 = st.columns([2, 2])
with s1:
    outcome = st.selectbox("Outcome", names, key="outcome", bind="query-params")
with s2:
    top = st.slider("Parameters shown", 5, 40, 15, key="top", bind="query-params")
kind, key = outcomes[outcome]
sens = store.sensitivity(ids[scenario], kind, key)
if sens.empty:
    st.info("No parameter varies in this ensemble (every parameter is pinned), so there is nothing to rank.")
    st.stop()
unit = "yr" if kind == "milestone" else meta.metric(key).unit
ui.chart("tornado", sens.head(top), outcome, unit, is_year=kind == "milestone")
st.caption(
    f"Each bar: the median {outcome} among runs whose parameter is in its bottom decile (blue end) and "
    "top decile (orange end), around the median of all runs (black line); longest bars matter most. "
    "Spearman ρ: rank correlation over all runs. "
    + ("Runs that never reach the milestone count at the end year. " if kind == "milestone" else "")
    + f"Grey band: sampling noise, the bar length that shuffled outcomes give 95 % of the time "
    f"({sens['noise'].iloc[0]:,.3g} {unit}; |ρ| {sens['spearman_noise'].iloc[0]:.2f}); faint bars are within "
    f"it ({int(sens['within_noise'].sum())} of {len(sens)}) and read as no effect."
)
ui.download(sens, f"sensitivity_{scenario}_{outcome}")
with st.expander("Sensitivity table"):
    st.dataframe(
        sens,
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="%.4g")
            for c in ("low", "high", "median", "p10_value", "p90_value")
        }
        | {"spearman": st.column_config.NumberColumn(format="%+.2f")},
    )
