"""SQL: read-only queries over the store, with the schema beside the box and examples to start from."""

import duckdb
import streamlit as st

from dashboard import store, ui

ROW_LIMIT_MAX = 100_000
TIMEOUT_S = 10.0
EXAMPLES = {
    "Runs per scenario": "SELECT scenario, kind, count(*) AS runs\nFROM runs JOIN ensembles USING (ensemble_id)\n"
    "GROUP BY ALL ORDER BY scenario",
    "Milestone medians per scenario": "SELECT scenario, milestone, round(p50, 1) AS median_year, "
    "round(p_reached, 3) AS share_reached\nFROM milestone_percentiles\n"
    "WHERE kind = 'named' ORDER BY scenario, milestone",
    "Takeoff class shares": "SELECT scenario, growth_class, labor_share_class, wages_class, round(share, 3) AS share\n"
    "FROM class_shares WHERE kind = 'named' ORDER BY scenario, share DESC",
    "Fan chart data (median GDP)": "SELECT e.scenario, q.year, q.p10, q.p50, q.p90\nFROM quantiles q JOIN ensembles e "
    "USING (ensemble_id)\nWHERE q.metric = 'gdp' AND e.kind = 'named' ORDER BY 1, 2",
    "Earliest AC runs and their parameters": "SELECT m.run_id, round(m.year, 2) AS ac_year, p.name, p.value\n"
    "FROM milestones m JOIN parameters p USING (run_id)\n"
    "WHERE m.milestone = 'AC' AND isfinite(m.year)\n"
    "ORDER BY m.year, p.name LIMIT 50",
    "Tables in the store": "SHOW ALL TABLES",
}

st.title("SQL")
st.caption(
    "Query the store directly. Read-only: one SELECT (or WITH … SELECT, EXPLAIN) per run, "
    f"at most the row limit returned, stopped after {TIMEOUT_S:g} s. The connection cannot touch files "
    "on the server, load extensions or change settings."
)

if not ui.require_store():
    st.stop()


def _use_example() -> None:
    name = st.session_state.get("example")
    if name in EXAMPLES:
        st.session_state["q"] = EXAMPLES[name]


@st.cache_data(show_spinner=False, max_entries=32)
def _run(fp: tuple, sql: str, limit: int) -> store.SqlResult:
    return store.run_user_sql(sql, limit=limit, timeout_s=TIMEOUT_S)


left, right = st.columns([3, 1.2])
with right:
    st.markdown("**Schema**")
    schema = store.schema()
    for (table, kind), cols in schema.groupby(["table_name", "table_type"], sort=False):
        with st.expander(f"{table} ({'view' if kind == 'VIEW' else 'table'})"):
            st.markdown(
                "\n".join(f"- `{c}` {t.lower()}" for c, t in zip(cols["column_name"], cols["data_type"]))
            )
with left:
    st.selectbox(
        "Examples",
        list(EXAMPLES),
        index=None,
        key="example",
        on_change=_use_example,
        placeholder="Start from an example …",
    )
    if "q" not in st.session_state and not st.query_params.get("q"):
        st.session_state["q"] = EXAMPLES["Runs per scenario"]
    with st.form("sql_form", border=False):
        sql = st.text_area("Query", key="q", height=180, bind="query-params")
        a, b = st.columns([1, 3])
        with a:
            limit = st.number_input(
                "Row limit", min_value=1, max_value=ROW_LIMIT_MAX, value=1000, step=100, key="limit"
            )
        st.form_submit_button("Run query", type="primary", icon=":material/play_arrow:")

    if sql and sql.strip():
        try:
            result = _run(store.fingerprint(), sql, int(limit))
        except store.SqlRefused as err:
            st.error(f"Refused: {err}", icon=":material/block:")
        except TimeoutError as err:
            st.error(str(err), icon=":material/timer_off:")
        except duckdb.Error as err:
            st.error(f"{type(err).__name__}: {err}", icon=":material/error:")
        else:
            note = f"{len(result.frame):,} row(s) in {result.seconds * 1000:.0f} ms"
            if result.truncated:
                note += f" — stopped at the row limit ({int(limit):,}); raise it or add a LIMIT/aggregate"
            st.caption(note)
            st.dataframe(result.frame, hide_index=True, width="stretch")
            ui.download(result.frame, "query_result", key="dl_sql")
