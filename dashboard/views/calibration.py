"""Calibration: historical data against the model, fitted parameters with their spreads, the backtest.

Reads the fits that ``python -m sim calibrate`` writes (``out/calibration/*.fit.json``) and those of
the validation report (``docs/validation/*.fit.json``); no simulation runs on this page.
"""

import json
import os
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

ROOT = Path(__file__).resolve().parents[2]
#: Where fits are looked for (``$AIFS_CALIBRATION_DIRS``, os.pathsep-separated, overrides).
FOLDERS = tuple(Path(p) for p in os.environ["AIFS_CALIBRATION_DIRS"].split(os.pathsep)) \
    if os.environ.get("AIFS_CALIBRATION_DIRS") else (ROOT / "out" / "calibration", ROOT / "docs" / "validation")

st.title("Calibration")
st.caption("MAP fits of model parameters to historical data by gradient descent through the simulator, with "
           "Laplace spreads (docs/CALIBRATION.md). Make one with `python -m sim calibrate --scenario aifm_eli "
           "--fit software_rnd.present_doubling_time,... [--until 2024.5]`.")


@st.cache_data(ttl=30)
def fits() -> dict[str, str]:
    found = {}
    for folder in FOLDERS:
        for path in sorted(folder.glob("*.fit.json")) if folder.exists() else []:
            found[f"{path.parent.name}/{path.name}"] = str(path)
    return found


available = fits()
if not available:
    st.info("No fits yet: run `python -m sim calibrate ...` or `python -m sim validate`.")
    st.stop()
choice = st.selectbox("Fit", list(available), key="fit")
result = json.loads(Path(available[choice]).read_text())

cols = st.columns(4)
cols[0].metric("Scenario", result["scenario"])
cols[1].metric("Loss", f"{result['loss']:.4g}", delta=f"{result['loss'] - result['loss_start']:.4g}",
               delta_color="inverse")
cols[2].metric("Iterations", result["iterations"], help=f"{result['evaluations']} simulations with gradients")
cols[3].metric("Fit time", f"{result['wall_seconds']:.1f} s")
st.caption(f"{result['method']}: {result['reason']}" + (f"; fitted on data up to {result['until']:g}"
                                                         if result.get("until") else ""))

pred = pd.DataFrame(result["predictions"])
for series, frame in pred.groupby("series", sort=False):
    st.subheader(f"Data against the model: {series}")
    log_space = (frame["space"] == "log").all()
    z = 1.959964
    if log_space:
        frame = frame.assign(low=frame.value * np.exp(-z * frame.sigma), high=frame.value * np.exp(z * frame.sigma))
    else:
        frame = frame.assign(low=frame.value - z * frame.sigma, high=frame.value + z * frame.sigma)
    frame = frame.assign(use=np.where(frame.used_in_fit, "fitted", "held out"))
    scale = alt.Scale(type="log") if log_space else alt.Scale(zero=False)
    x = alt.X("year:Q", axis=alt.Axis(format="d"), scale=alt.Scale(zero=False))
    models = frame.melt(id_vars=["year"], value_vars=["model_before", "model_after"], var_name="model",
                        value_name="model value").replace({"model_before": "uncalibrated", "model_after": "fitted"})
    chart = (alt.Chart(frame).mark_rule(color="black").encode(x=x, y=alt.Y("low:Q", scale=scale), y2="high:Q")
             + alt.Chart(frame).mark_point(filled=True, size=60).encode(
                 x=x, y=alt.Y("value:Q", scale=scale, title=frame.metric.iloc[0]),
                 shape=alt.Shape("use:N", title="data"), color=alt.value("black"),
                 tooltip=["label", "year", "value", "model_before", "model_after"])
             + alt.Chart(models).mark_line().encode(x=x, y=alt.Y("model value:Q", scale=scale),
                                                   color=alt.Color("model:N")))
    st.altair_chart(chart.properties(height=380), use_container_width=True)

st.subheader("Fitted parameters")
params = pd.DataFrame(result["parameters"]).rename(columns={"p16": "16%", "p84": "84%"})
st.dataframe(params, hide_index=True, use_container_width=True)
short = [n.split(".")[-1] for n in params.name]
st.caption("Posterior correlations (Laplace approximation, Gauss-Newton Hessian)")
st.dataframe(pd.DataFrame(result["correlation"], index=short, columns=short).round(2), use_container_width=True)

if result.get("backtest"):
    st.subheader("Backtest")
    st.dataframe(pd.DataFrame(result["backtest"]), hide_index=True, use_container_width=True)
    held = pred[~pred.used_in_fit]
    if len(held):
        st.caption("Held-out points: ln(model/data) before and after the fit")
        st.dataframe(held[["label", "year", "value", "model_before", "model_after", "log_error_before",
                           "log_error_after"]], hide_index=True, use_container_width=True)
st.subheader("Loss by iteration")
st.line_chart(pd.DataFrame({"loss": result["history"]}))
