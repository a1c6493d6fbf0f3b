"""Small pieces every page shares: the empty-store screen, the scenario picker, CSV downloads, formatting."""

from __future__ import annotations

import math
import re

import pandas as pd
import streamlit as st

from dashboard import charts, store

#: Samples per scenario of the demo store built from the empty-store screen.
DEMO_SAMPLES = 100


def fmt_year(value, end: float | None = None) -> str:
    """A milestone year for tables: ``2031.4``, ``>2060`` when not reached by ``end`` (the ensemble's
    last year; default the store's), ``—`` when unknown."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        end = store.horizon_end() if end is None or pd.isna(end) else float(end)
        return f">{end:.0f}" if math.isfinite(end) else "not reached"
    return f"{value:.1f}"


def md(text) -> str:
    """Text safe to put in Streamlit markdown: ``$`` would start LaTeX (units like ``$/yr``)."""
    return str(text).replace("$", "\\$")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "data"


def download(frame: pd.DataFrame, name: str, label: str = "Download CSV", key: str | None = None) -> None:
    """A CSV download of exactly the data behind a chart or table."""
    st.download_button(
        label,
        frame.to_csv(index=False).encode("utf-8"),
        file_name=f"{slug(name)}.csv",
        mime="text/csv",
        key=key or f"dl_{slug(name)}",
        icon=":material/download:",
    )


def _build_demo(on_progress=None) -> None:
    from pipelines import build_default_store

    results = build_default_store(
        store.db_path(), n_samples=DEMO_SAMPLES, progress=False, on_progress=on_progress
    )
    store.release()
    failed = [f"{r.scenario}: {r.error}" for r in results if r.action == "failed"]
    if failed and len(failed) == len(results):
        raise RuntimeError("; ".join(failed))


def require_store() -> bool:
    """True when the store has data; otherwise shows how to build one (and a demo button) and returns False."""
    state, detail = store.store_status()
    if state == "ok":
        return True
    path = store.db_path()
    if state == "locked":
        st.warning(
            f"The store at `{path}` is being written or cannot be opened right now. "
            "This page will read it as soon as the write finishes; reload in a moment."
        )
        return False
    if state == "unreadable":
        st.error(
            md(
                f"The file at `{path}` is not a store this dashboard can read ({detail.splitlines()[0]}). "
                "Move it away (or delete it) and build the store again:"
            ),
            icon=":material/error:",
        )
        st.markdown(
            "```bash\n"
            f"mv {path} {path}.bad\n"
            "python -m pipelines run --all   # every named scenario, 1,000 samples each\n"
            "```"
        )
        return False
    st.info(f"No simulation results yet (looked in `{path}`).", icon=":material/database:")
    st.markdown(
        "Build the store once; every page then reads precomputed ensembles:\n\n"
        "```bash\n"
        "make run                       # installs, builds the default store, starts this dashboard\n"
        "python -m pipelines run --all  # or only the store: every named scenario, 1,000 samples each\n"
        "```\n"
        f"Or build a small demo store here ({DEMO_SAMPLES} samples per named scenario; minutes on a laptop, "
        "up to a quarter of an hour on two cores; the page waits until it is done):"
    )
    if st.button("Build a small demo store", type="primary", key="build_demo", icon=":material/build:"):
        bar = st.progress(0.0, text="Loading the simulator …")

        def on_progress(done: int, total: int) -> None:
            bar.progress(
                min(1.0, done / total) if total else 0.0, text=f"Simulated {done:,} of {total:,} runs"
            )

        try:
            _build_demo(on_progress=on_progress)
        except Exception as err:  # noqa: BLE001 - show the reason, never a stack trace
            st.error(f"Could not build the demo store: {err}")
            return False
        st.success("Demo store built.")
        st.rerun()
    return False


def scenario_picker(
    label: str = "Scenarios",
    key: str = "scenarios",
    max_selections: int | None = None,
    default: list[str] | None = None,
    include_user: bool = True,
    sidebar: bool = False,
) -> list[str]:
    """Multiselect of ensembles (named scenarios, then user reruns), bound to the URL (``?scenarios=...``)."""
    options = list(store.choices()) if include_user else list(store.current_ensembles()["scenario"])
    if default is None:
        default = options[:1]
    default = [d for d in default if d in options][: max_selections or None]
    where = st.sidebar if sidebar else st
    picked = where.multiselect(
        label,
        options,
        default=default,
        key=key,
        max_selections=max_selections,
        bind="query-params",
        help="Named scenarios from the store; `user/...` are your reruns. Kept in the URL.",
    )
    return picked


@st.cache_data(show_spinner=False, max_entries=256)
def _spec(builder: str, args: tuple, kwargs: dict) -> dict:
    spec = getattr(charts, builder)(*args, **kwargs).to_dict(validate=False)
    spec.get("config", {}).pop("view", None)  # Altair's default 300x300 view; Streamlit sizes the chart
    return spec


def chart(builder: str, *args, **kwargs) -> None:
    """Show ``charts.<builder>(*args, **kwargs)`` full width, its Vega-Lite spec cached by its inputs.

    Building an Altair chart and validating it against the JSON schema costs more than the page's
    queries (tenths of a second per chart); the spec is built once per input and the builders are
    validated in the tests instead. Data still travels to the browser as Arrow.
    """
    st.vega_lite_chart(_spec(builder, args, kwargs), width="stretch")


def url_select(label: str, options: list, key: str, default=None, format_func=str, where=None, **kwargs):
    """A selectbox whose value lives in the URL as the raw option (``?key=value``).

    ``bind="query-params"`` would put the *formatted* label in the URL for a selectbox with a
    ``format_func``; this keeps links short and stable (``?metric=gdp``).
    """
    where = where or st
    options = list(options)
    if not options:
        return None
    if key not in st.session_state or st.session_state[key] not in options:
        wanted = st.query_params.get(key)
        st.session_state[key] = (
            wanted if wanted in options else (default if default in options else options[0])
        )
    value = where.selectbox(label, options, key=key, format_func=format_func, **kwargs)
    if st.query_params.get(key) != str(value):
        st.query_params[key] = str(value)
    return value


def ensemble_ids(labels: list[str]) -> dict[str, str]:
    """Label -> ensemble id for the picked labels."""
    return store.resolve(labels)
