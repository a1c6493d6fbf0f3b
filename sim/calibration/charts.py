"""Altair charts shared by the validation report (PNG via vl-convert) and the dashboard page."""

from __future__ import annotations

import altair as alt
import pandas as pd


def data_vs_model(points: pd.DataFrame, fans: pd.DataFrame, title: str, y_title: str, log: bool = True,
                  width: int = 640, height: int = 360) -> alt.Chart:
    """``points``: year, value, low, high, label; ``fans``: year, p10, p50, p90, fan (legend name)."""
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    x = alt.X("year:Q", title="year", scale=alt.Scale(zero=False), axis=alt.Axis(format="d"))
    band = alt.Chart(fans).mark_area(opacity=0.22).encode(
        x=x, y=alt.Y("p10:Q", scale=scale, title=y_title), y2="p90:Q", color=alt.Color("fan:N", title="model"))
    line = alt.Chart(fans).mark_line().encode(x=x, y=alt.Y("p50:Q", scale=scale), color="fan:N")
    bars = alt.Chart(points).mark_rule(color="black").encode(x=x, y=alt.Y("low:Q", scale=scale), y2="high:Q")
    dots = alt.Chart(points).mark_point(color="black", filled=True).encode(
        x=x, y=alt.Y("value:Q", scale=scale), tooltip=["label", "year", "value", "low", "high"])
    return (band + line + bars + dots).properties(title=title, width=width, height=height)


def history_vs_model(history: pd.DataFrame, fans: pd.DataFrame, title: str, y_title: str, width: int = 640,
                     height: int = 300) -> alt.Chart:
    """``history``: year, value; ``fans``: year, p10, p50, p90, fan."""
    x = alt.X("year:Q", title="year", axis=alt.Axis(format="d"))
    y = alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False))
    hist = alt.Chart(history).mark_line(point=True, color="black").encode(x=x, y=y)
    band = alt.Chart(fans).mark_area(opacity=0.22).encode(x=x, y=alt.Y("p10:Q", title=y_title), y2="p90:Q",
                                                         color=alt.Color("fan:N", title="model"))
    line = alt.Chart(fans).mark_line().encode(x=x, y="p50:Q", color="fan:N")
    return (band + line + hist).properties(title=title, width=width, height=height)


def agreement(frame: pd.DataFrame, title: str, width: int = 360, height: int = 360) -> alt.Chart:
    """Scatter of ours against theirs (columns theirs, ours, milestone) with the diagonal."""
    lo, hi = float(min(frame.theirs.min(), frame.ours.min())), float(max(frame.theirs.max(), frame.ours.max()))
    diag = alt.Chart(pd.DataFrame({"theirs": [lo, hi], "ours": [lo, hi]})).mark_line(color="grey").encode(
        x="theirs:Q", y="ours:Q")
    pts = alt.Chart(frame).mark_point(opacity=0.6).encode(
        x=alt.X("theirs:Q", title="calculator (year)", scale=alt.Scale(zero=False)),
        y=alt.Y("ours:Q", title="this simulator (year)", scale=alt.Scale(zero=False)),
        color="milestone:N")
    return (diag + pts).properties(title=title, width=width, height=height)


def loss_history(history: list[float], width: int = 360, height: int = 220) -> alt.Chart:
    frame = pd.DataFrame({"iteration": range(len(history)), "loss": history})
    return alt.Chart(frame).mark_line(point=True).encode(
        x="iteration:Q", y=alt.Y("loss:Q", scale=alt.Scale(type="log"))).properties(
        title="loss by iteration", width=width, height=height)


def save_png(chart: alt.Chart, path) -> None:
    chart.save(str(path), format="png", scale_factor=1.5)
