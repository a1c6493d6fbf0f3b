"""Takeoff classes: growth / labor share / wages outcomes per scenario (Trammell & Korinek vocabulary)."""

import streamlit as st

from dashboard import meta, store, ui

VOCABULARY = {
    "growth_class": (
        "Output growth",
        {
            "--": "falls towards zero",
            "-": "lower sustained rate",
            "=": "no transformative change",
            "+": "modest rise",
            "++": "significant one-off rise to a new sustained rate",
            "I": "the growth rate itself grows without bound (Type I)",
            "II": "output diverges in finite time (Type II)",
        },
    ),
    "labor_share_class": (
        "Human labor share",
        {"C": "stays at or converges to a positive constant", "->0": "falls to zero"},
    ),
    "wages_class": (
        "Human wages",
        {
            "->0": "collapse towards zero",
            "=": "unchanged path",
            "C": "constant level",
            "L": "low constant growth rate (including stagnation)",
            "++": "rise to a higher growth rate",
            "I": "grow ever faster",
        },
    ),
}

st.title("Takeoff classes")
st.caption(
    "Every run is classified in the vocabulary of Trammell & Korinek's scenario tables: what happens to "
    "output growth, to the human labor share and to human wages."
)

if not ui.require_store():
    st.stop()

picked = ui.scenario_picker(default=list(store.current_ensembles()["scenario"]))
if not picked:
    st.info("Pick at least one scenario.")
    st.stop()
ids = ui.ensemble_ids(picked)
label_of = {v: k for k, v in ids.items()}
shares = store.class_shares(list(ids.values())).copy()
shares["scenario"] = shares["ensemble_id"].map(label_of)
if shares.empty or (shares[list(store.CLASS_COLUMNS)] == "?").all().all():
    st.info("The runs in this store carry no takeoff classes (the economy module was not simulated).")
    st.stop()

# ------------------------------------------------------------------------------------ the table
st.subheader("Share of runs in each class")
table = shares.pivot_table(
    index=list(store.CLASS_COLUMNS), columns="scenario", values="share", fill_value=0.0
)
table = table[[s for s in picked if s in table.columns]]


def _rank(column: str, value: str) -> int:
    order = store.CLASS_ORDER[column]
    return order.index(value) if value in order else len(order)


table = table.reset_index()
table["_k"] = [tuple(_rank(c, r[c]) for c in store.CLASS_COLUMNS) for _, r in table.iterrows()]
table = table.sort_values("_k", ascending=False).drop(columns="_k")
table.columns = ["growth", "labor share", "wages", *table.columns[3:]]
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        s: st.column_config.ProgressColumn(s, format="percent", min_value=0.0, max_value=1.0)
        for s in table.columns[3:]
    },
)
ui.download(table, "takeoff_class_shares")
with st.expander("What the class symbols mean"):
    for _column, (title, words) in VOCABULARY.items():
        st.markdown(f"**{title}**: " + "; ".join(f"`{k}` {v}" for k, v in words.items()))

longest = max((len(s) for s in picked), default=10)
cols = st.columns([1 + min(longest, 30) / 30, 1, 1])  # the first chart also carries the scenario names
for i, (col, column) in enumerate(zip(cols, store.CLASS_COLUMNS)):
    title = VOCABULARY[column][0]
    one = shares.groupby(["scenario", column], as_index=False)[["runs", "share"]].sum()
    with col:
        ui.chart(
            "class_share_chart",
            one,
            column,
            title.lower(),
            store.CLASS_ORDER[column],
            scenarios=picked,
            labels=i == 0,
        )

# -------------------------------------------------------------------------- which parameters drive it
st.subheader("Which parameters drive the class")
c1, c2, c3, c4 = st.columns(4)
with c1:
    scenario = st.selectbox("Scenario", list(ids), key="class_scenario", bind="query-params")
eid = ids[scenario]
params = store.sampled_parameters(eid)
if len(params) < 2:
    st.info("This ensemble samples fewer than two parameters; nothing to plot against.")
else:
    default_x = next((p for p in params if p.endswith("substitution_rho")), params[0])
    default_y = next(
        (p for p in params if p.endswith("research_feedback_phi")), params[1 if params[0] == default_x else 0]
    )
    with c2:
        x = st.selectbox("x", params, index=params.index(default_x), key="class_x", bind="query-params")
    with c3:
        y = st.selectbox("y", params, index=params.index(default_y), key="class_y", bind="query-params")
    with c4:
        by = ui.url_select(
            "Colour by", list(store.CLASS_COLUMNS), key="class_by", format_func=lambda c: VOCABULARY[c][0]
        )
    runs = store.runs_with_parameters(eid, [x, y], limit=4000)
    units = meta.units()

    def title(name: str) -> str:
        return f"{name} ({units[name]})" if units.get(name) else name

    if x == y:
        st.warning("Pick two different parameters.")
    else:
        ui.chart(
            "class_scatter", runs.dropna(subset=[x, y]), x, y, by, title(x), title(y), store.CLASS_ORDER[by]
        )
        st.caption(f"One point per run of `{scenario}` (first {len(runs):,} runs).")
        ui.download(runs, f"classes_by_{x}_{y}")

# ------------------------------------------------------------------------------------ drill-down
st.subheader("Runs of a class")
mine = shares[shares["ensemble_id"] == eid]
d1, d2, d3 = st.columns(3)
picks = {}
for col, column in zip((d1, d2, d3), store.CLASS_COLUMNS):
    present = sorted(set(mine[column]), key=lambda v: _rank(column, v))
    with col:
        picks[column] = st.selectbox(VOCABULARY[column][0], ["any", *present], key=f"drill_{column}")
runs = store.runs_of_class(
    eid, *[None if picks[c] == "any" else picks[c] for c in store.CLASS_COLUMNS], limit=500
)
st.caption(f"{len(runs):,} run(s) of `{scenario}` shown (at most 500). Select a row to see its parameters.")
shown_runs = (
    runs.assign(run_id=runs["run_id"].astype(str)) if len(runs) else runs
)  # 64-bit ids: exact as text
event = st.dataframe(
    shown_runs,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    key="drill_table",
)
ui.download(runs, f"runs_{scenario}_class")
rows = event.selection.rows if event and hasattr(event, "selection") else []
if rows:
    run_id = int(runs.iloc[rows[0]]["run_id"])
    st.markdown(f"**Parameters of run {run_id}**")
    detail = store.run_parameters(run_id)
    st.dataframe(detail, hide_index=True, width="stretch")
    ui.download(detail, f"run_{run_id}_parameters")
