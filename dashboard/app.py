"""Entry point: ``streamlit run dashboard/app.py``. Sets up the page list and the sidebar; nothing else."""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts dashboard/ on the path, not the repository root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402  (after the sys.path fix above)

from dashboard import meta, store  # noqa: E402

st.set_page_config(page_title="AI futures simulator", page_icon=":material/timeline:", layout="wide")

PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("views/fan_charts.py", title="Fan charts", icon=":material/show_chart:", url_path="fan-charts"),
    st.Page("views/milestones.py", title="Milestones", icon=":material/flag:", url_path="milestones"),
    st.Page("views/takeoff.py", title="Takeoff classes", icon=":material/category:", url_path="takeoff"),
    st.Page("views/rerun.py", title="Rerun", icon=":material/play_circle:", url_path="rerun"),
    st.Page("views/parameters.py", title="Parameters", icon=":material/tune:", url_path="parameters"),
    st.Page("views/policy.py", title="Policy", icon=":material/gavel:", url_path="policy"),
    st.Page("views/calibration.py", title="Calibration", icon=":material/query_stats:", url_path="calibration"),
    st.Page("views/sql.py", title="SQL", icon=":material/terminal:", url_path="sql"),
]

page = st.navigation(PAGES)
st.sidebar.caption(f"Store: `{store.db_path()}`")
started = time.perf_counter()
try:
    page.run()
finally:  # also when a page stops early (st.stop) or reruns
    # how long the page script took (shown in the sidebar; bench/bench_dashboard.py reads it)
    st.session_state["_render_s"] = time.perf_counter() - started
    st.sidebar.caption(f"Page computed in {st.session_state['_render_s']:.2f} s")
    meta.start_warm_up()  # then import the simulator in the background: no page waits for torch to load
