"""Plotly figure builders (dashboard, CLI, notebooks). Each returns a ``plotly.graph_objects.Figure``.

No streamlit here: pages only place these figures. Inputs are plain arrays and pandas tables as produced by
:func:`mastcore.sweep` (its ``table``).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._registry import LiveView
from .methods import METHODS

__all__ = [
    "DEFAULT_STYLE",
    "METHOD_MARKER",
    "METHOD_STYLE",
    "METHOD_WIDTH",
    "digit_samples",
    "features_figure",
    "kernel_heatmaps",
    "kernel_spectrum",
    "label_balance",
    "learning_curves_figure",
    "log_axis",
    "log_ticks",
    "method_style",
    "predictions_figure",
    "regimes_figure",
    "running_figure",
    "sigma_v_spectrum",
    "spins_image",
    "traces_figure",
    "vs_chi_figure",
    "width_scaling_figure",
    "width_scaling_table",
]

#: The style of a method whose record gives none: (colour, dash, marker) — a user's method always has a line.
DEFAULT_STYLE = ("#7F7F7F", "solid", "circle")


def method_style(method: str) -> tuple:
    """(label, colour, dash, marker) of ``method``: its record's label and style (:data:`mastcore.METHODS`),
    :data:`DEFAULT_STYLE` where the record gives no style, and the name itself for a method not registered."""
    record = METHODS.get(method)
    if record is None:
        return (method, *DEFAULT_STYLE)
    return (record.label, *(record.style or DEFAULT_STYLE)[:3])


#: method -> (label, colour, dash): the labels and colour-blind-safe styles of the registry's records.
METHOD_STYLE = LiveView(lambda: {m: method_style(m)[:3] for m in METHODS})


def _style_part(i: int) -> dict:
    """method → element ``i`` of its record's style, for the methods whose style has one."""
    return {m: r.style[i] for m, r in METHODS.items() if r.style is not None and len(r.style) > i
            and r.style[i] is not None}


#: method -> marker symbol (the record's style): curves that coincide (the one loops and the exact posterior often
#: lie within a line's width of each other) stay distinguishable by their dash pattern and their markers.
METHOD_MARKER = LiveView(lambda: _style_part(2))
#: method -> line width, where the record's style gives one (a 4th element): the exact posterior is drawn thinner
#: and on top, so a theory on it shows around it.
METHOD_WIDTH = LiveView(lambda: _style_part(3))

# No template: the dashboard's st.plotly_chart applies Streamlit's theme (and drops a figure's template), and
# validating a named template costs ~25 ms per figure, a tenth of the slider's latency budget.
_LAYOUT = dict(margin=dict(l=60, r=20, t=40, b=50), height=420,
               legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))


def _vline(x, **line) -> dict:
    """A vertical line shape across the plot (cheaper than Figure.add_vline, which validates per call)."""
    return dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1, line=line)


def _hline(y, **line) -> dict:
    return dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=y, y1=y, line=line)


def _name(method: str) -> str:
    return METHOD_STYLE.get(method, (method, None, None))[0]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values 1, 2, 5, 10, 20, 50, … covering [lo, hi] on a log axis (1, 10, 100, … over more than three
    decades, so that labels do not crowd)."""
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 or hi <= 0:
        return []
    lo, hi = min(lo, hi), max(lo, hi)
    out = []
    mantissas = (1, 2, 5) if np.log10(hi / lo) <= 3.2 else (1,)  # over more than three decades: 1, 10, 100 …
    for e in range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1):
        for m in mantissas:
            t = m * 10.0**e
            if lo / 1.0001 <= t <= hi * 1.0001:
                out.append(float(f"{t:.6g}"))
    if len(out) < 2:  # a narrow range: its ends
        out = sorted({float(f"{lo:.3g}"), float(f"{hi:.3g}")})
    return out


def _tick_text(t: float) -> str:
    return f"{t:g}" if 1e-3 <= t < 1e5 else f"{t:.0e}".replace("e-0", "e-").replace("e+0", "e")


def log_axis(lo: float, hi: float, **kw) -> dict:
    """A log axis over [lo, hi] labelled 1, 2, 5, 10, 20, 50, … (no unlabelled minor digits)."""
    ticks = log_ticks(lo, hi)
    return dict(type="log", tickmode="array", tickvals=ticks, ticktext=[_tick_text(t) for t in ticks], **kw)


def _span(values) -> tuple[float, float]:
    a = np.asarray([x for x in np.ravel(values) if x is not None], dtype=float)
    a = a[np.isfinite(a) & (a > 0)]
    return (float(a.min()), float(a.max())) if a.size else (1.0, 10.0)


def _nearest_row(t, chi):
    """Index (into t) of the row whose χ is nearest to ``chi`` in log scale."""
    c = t["chi"].to_numpy(dtype=float)
    return int(np.argmin(np.abs(np.log(c) - np.log(chi))))


#: Marker of the current χ: translucent open circles, drawn beneath the curves and large enough to ring the points.
_MARKER = dict(color="#E69F00", size=18, symbol="circle-open", opacity=0.7, line=dict(width=1.5))


def _curve(method: str, x, y, hover_x: str, **kw) -> dict:
    """A theory's curve as a plain trace dict: its colour, dash pattern, marker symbol and line width
    (METHOD_STYLE, METHOD_MARKER, METHOD_WIDTH), so that curves that coincide stay distinguishable."""
    name, color, dash = METHOD_STYLE.get(method, (method, None, "solid"))
    exact = method == "quadrature"
    return dict(type="scatter", x=x, y=y, name=name, mode="lines+markers",
                line=dict(color=color, dash=dash or "solid", width=METHOD_WIDTH.get(method, 2.5)),
                marker=dict(color=color, size=9 if exact else 6, symbol=METHOD_MARKER.get(method, "circle")),
                hovertemplate=hover_x + "<br>%{y:.5f}<extra>" + name + "</extra>", **kw)
_READOUT = dict(xref="paper", yref="paper", x=1.02, y=1.0, xanchor="left", yanchor="top", align="left",
                showarrow=False, font=dict(size=12), bordercolor="#cccccc", borderwidth=1, borderpad=6,
                bgcolor="rgba(255,255,255,0.85)")


def _slider(chis, active: int, steps: list) -> dict:
    return dict(active=int(active), steps=steps, x=0.0, len=1.0, y=-0.16, yanchor="top", pad=dict(t=8, b=0),
                currentvalue=dict(prefix="χ = ", font=dict(size=13), xanchor="left"), font=dict(size=9),
                ticklen=3, minorticklen=0, transition=dict(duration=0))


def regimes_figure(table, column: str, chi: float | None = None, refs=None, *, ylabel: str = "", title: str = "",
                   live: bool = False, meta: str | None = None):
    """Discrepancy vs χ (log axis): one curve per method in ``table`` (columns chi, method, ``column``),
    reference points with error bars from ``refs`` (rows with kind, chi, ``column`` and ``column``_se), and a
    marker at the current χ (open circles on each curve, a dotted vertical line).

    ``live=True`` (needs ``chi``): the figure carries the computed sweep and a χ slider under the axis; dragging
    it moves the marker and the readout box (the value of every method, and of a reference run at that χ) in the
    browser, without a server round trip. ``meta`` names the figure (layout.meta) for a listener.
    Traces: the marker (name "χ = …", drawn first: beneath everything), the curves, then the reference points, then
    the error bands of the theory curves where ``table`` has ``column``_band (translucent fills between value − band
    and value + band, docs/theory.md §19; the readout box shows value ± band).
    """
    # traces are built as plain dicts and validated once by go.Figure (add_trace per curve costs ~5 ms each)
    traces, curves = [], []
    # the exact posterior last: on top of any theory that coincides with it (it is drawn thinner)
    groups = sorted(table.groupby("method", sort=False), key=lambda g: g[0] == "quadrature")
    for method, t in groups:
        if column not in t or not np.isfinite(t[column].to_numpy(dtype=float)).any():
            continue
        t = t.sort_values("chi")
        curves.append((method, t))
        traces.append(_curve(method, t["chi"].to_numpy(), t[column].to_numpy(), "χ=%{x:.3g}"))
    ref_groups = []
    if refs is not None and len(refs):
        for kind, r in refs.groupby("kind", sort=False):
            if column in r:
                ref_groups.append((kind, r.sort_values("chi")))
    shapes, annotations, sliders = [], [], []
    marker_index = None
    if chi is not None:  # drawn first, i.e. beneath the curves and the points: it rings them, never hides them
        shapes.append(_vline(chi, color="#E69F00", width=1.5, dash="dot"))
        xs, ys = _marker_at(curves, column, chi)
        marker_index = 0
        traces.insert(0, dict(type="scatter", x=xs or [chi], y=ys or [None], mode="markers", name=f"χ = {chi:g}",
                              marker=_MARKER, hoverinfo="skip", meta="chi-marker"))
    for kind, r in ref_groups:
        name, color, _ = METHOD_STYLE.get(kind, (kind, None, None))
        se = r[f"{column}_se"].to_numpy() if f"{column}_se" in r else None
        traces.append(dict(
            type="scatter", x=r["chi"].to_numpy(), y=r[column].to_numpy(), mode="markers", name=name,
            marker=dict(color=color, size=10, symbol="diamond", line=dict(color="white", width=1)),
            error_y=None if se is None else dict(type="data", array=se, visible=True, thickness=1.5),
            hovertemplate="χ=%{x:.3g}<br>%{y:.5f}<extra>" + name + "</extra>",
        ))
    traces += [b for b in (_band_fill(method, t, column) for method, t in curves) if b is not None]
    lo, hi = _span(table["chi"]) if len(table) else (1.0, 10.0)
    margin = dict(_LAYOUT["margin"])
    if live and chi is not None and curves:
        grid = np.unique(np.concatenate([t["chi"].to_numpy(dtype=float) for _, t in curves]))
        active = int(np.argmin(np.abs(np.log(grid) - np.log(chi))))
        annotations.append(dict(_READOUT, text=_readout(curves, ref_groups, column, chi)))
        steps = []
        for c in grid:
            xs, ys = _marker_at(curves, column, c)
            steps.append(dict(method="update", label=f"{c:g}", value=f"{c:.10g}", args=[
                {"x": [xs or [c]], "y": [ys or [None]], "name": [f"χ = {c:g}"]},
                {"shapes[0].x0": c, "shapes[0].x1": c, "annotations[0].text": _readout(curves, ref_groups, column, c)},
                [marker_index]]))
        sliders.append(_slider(grid, active, steps))
        margin.update(r=265 if any(f"{column}_band" in t for _, t in curves) else 215, b=120)
    layout = dict(**{**_LAYOUT, "margin": margin, "height": 540 if sliders else _LAYOUT["height"]},
                  title=title or None, shapes=shapes, annotations=annotations, sliders=sliders, meta=meta,
                  xaxis=log_axis(lo, hi, title="χ  (1 = standard scaling,  N = mean field)"),
                  yaxis=dict(title=ylabel or column))
    return go.Figure(data=traces, layout=layout)


def _band_fill(method, t, column):
    """A translucent fill between ``column`` − band and ``column`` + band of one curve, or None without a band."""
    if f"{column}_band" not in t:
        return None
    x = t["chi"].to_numpy(dtype=float)
    v, b = t[column].to_numpy(dtype=float), t[f"{column}_band"].to_numpy(dtype=float)
    ok = np.isfinite(v) & np.isfinite(b)
    if not np.any(ok & (b > 0)):
        return None
    x, v, b = x[ok], v[ok], b[ok]
    name, color, _ = METHOD_STYLE.get(method, (method, "#444444", None))
    rgb = tuple(int(color.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)) if color else (68, 68, 68)
    return dict(type="scatter", x=np.r_[x, x[::-1]], y=np.r_[v + b, (v - b)[::-1]], mode="lines",
                fill="toself", fillcolor="rgba({}, {}, {}, 0.15)".format(*rgb), line=dict(width=0), hoverinfo="skip",
                showlegend=False, name=f"{name} band", meta="band")


def _marker_at(curves, column, chi):
    """x and y of the marker at ``chi``: each curve's value where the curve has that χ."""
    xs, ys = [], []
    for _, t in curves:
        i = _nearest_row(t, chi)
        if np.isclose(t["chi"].iloc[i], chi, rtol=1e-6):
            val = float(t[column].iloc[i])
            if np.isfinite(val):
                xs.append(float(chi))
                ys.append(val)
    return xs, ys


def _readout(curves, ref_groups, column, chi) -> str:
    """The readout box: χ, then each method's value at χ (nearest point of its curve) and reference runs there."""
    lines = [f"<b>χ = {chi:g}</b>"]
    for method, t in curves:
        name, color, _ = METHOD_STYLE.get(method, (method, "#444444", None))
        i = _nearest_row(t, chi)
        c, val = float(t["chi"].iloc[i]), float(t[column].iloc[i])
        at = "" if np.isclose(c, chi, rtol=1e-6) else f" (χ={c:.3g})"
        band = float(t[f"{column}_band"].iloc[i]) if f"{column}_band" in t else float("nan")
        pm = f" ±{band:.2g}" if np.isfinite(band) and band > 0 else ""  # the error band (docs/theory.md §19)
        lines.append(f"<span style='color:{color}'>●</span> {name}: {val:.5f}{pm}{at}")
    for kind, r in ref_groups:
        near = r[np.isclose(r["chi"].to_numpy(dtype=float), chi, rtol=0.02)]
        if len(near) and np.isfinite(float(near[column].iloc[-1])):
            name, color, _ = METHOD_STYLE.get(kind, (kind, "#444444", None))
            se = float(near[f"{column}_se"].iloc[-1]) if f"{column}_se" in near else float("nan")
            pm = f" ± {se:.5f}" if np.isfinite(se) else ""
            lines.append(f"<span style='color:{color}'>◆</span> {name}: {float(near[column].iloc[-1]):.5f}{pm}")
    return "<br>".join(lines)


def vs_chi_figure(table, column: str, chi: float | None = None, *, ylabel: str = "", method: str = "tree",
                  hline: float | None = None, title: str = "", yrange=None):
    """One quantity of ``method`` vs χ (log axis), with a marker at the current χ and an optional reference line.
    ``yrange``: fixed y range (e.g. [0, 1] for an overlap, so that the axis does not zoom into small changes)."""
    t = table[table["method"] == method].sort_values("chi")
    name, color, _ = METHOD_STYLE.get(method, (method, None, None))
    fig = go.Figure(go.Scatter(x=t["chi"], y=t[column], mode="lines+markers", name=name, line=dict(color=color)))
    shapes = []
    if hline is not None:
        shapes.append(_hline(hline, color="#999999", dash="dash"))
    if chi is not None:
        shapes.append(_vline(chi, color="#E69F00", width=2, dash="dot"))
    lo, hi = _span(t["chi"]) if len(t) else (1.0, 10.0)
    fig.update_layout(**{**_LAYOUT, "height": 320}, title=title or None, shapes=shapes,
                      xaxis=log_axis(lo, hi, title="χ"), yaxis=dict(title=ylabel or column, range=yrange),
                      showlegend=False)
    return fig


#: Panels of :func:`features_figure`: (column, y label, reference line, fixed y range).
FEATURE_PANELS = (("s", "rescaling factor s", 1.0, None),
                  ("outlier", "Σ_v outlier / (g_v/D)", 1.0, None),
                  ("overlap", "overlap with the task direction", None, [0.0, 1.05]))


def features_figure(table, chi: float, *, live: bool = True, meta: str | None = None):
    """Tree-level feature learning vs χ in three panels: rescaling factor s, Σ_v's outlier eigenvalue (in units of
    the prior g_v/D) and the overlap of its top eigenvector with the task direction (axis fixed to [0, 1]).

    ``live=True``: a χ slider under the panels moves the three markers and the readout in the browser.
    """
    t = table[table["method"] == "tree"].sort_values("chi")
    panels = [p for p in FEATURE_PANELS if p[0] in t and np.isfinite(t[p[0]].to_numpy(dtype=float)).any()]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[1] for p in panels], horizontal_spacing=0.08)
    _, color, _ = METHOD_STYLE["tree"]
    lo, hi = _span(t["chi"]) if len(t) else (1.0, 10.0)
    chis = t["chi"].to_numpy(dtype=float)
    i0 = int(np.argmin(np.abs(np.log(chis) - np.log(chi)))) if len(chis) else 0
    shapes = []
    for j, (col, label, ref, yrange) in enumerate(panels, start=1):
        fig.add_trace(go.Scatter(x=chis, y=t[col], mode="lines+markers", line=dict(color=color), marker=dict(size=4),
                                 name=label, showlegend=False,
                                 hovertemplate="χ=%{x:.3g}<br>%{y:.4f}<extra></extra>"), row=1, col=j)
        xa = "x" if j == 1 else f"x{j}"
        ya = "y" if j == 1 else f"y{j}"
        if ref is not None:
            shapes.append(dict(type="line", xref=f"{xa} domain", yref=ya, x0=0, x1=1, y0=ref, y1=ref,
                               line=dict(color="#999999", dash="dash")))
        fig.update_xaxes(log_axis(lo, hi, title="χ"), row=1, col=j)
        if yrange is not None:
            fig.update_yaxes(range=yrange, row=1, col=j)
    markers = []
    for j, (col, _, _, _) in enumerate(panels, start=1):
        markers.append(len(fig.data))
        fig.add_trace(go.Scatter(x=[chis[i0]] if len(chis) else [chi], y=[t[col].iloc[i0]] if len(t) else [None],
                                 mode="markers", marker=_MARKER, showlegend=False, hoverinfo="skip",
                                 meta="chi-marker"), row=1, col=j)
    vlines = []
    for j in range(1, len(panels) + 1):
        xa = "x" if j == 1 else f"x{j}"
        ya = "y" if j == 1 else f"y{j}"
        vlines.append(len(shapes))
        shapes.append(dict(type="line", xref=xa, yref=f"{ya} domain", x0=chi, x1=chi, y0=0, y1=1,
                           line=dict(color="#E69F00", width=2, dash="dot")))

    def readout(i):
        row = t.iloc[i]
        parts = [f"<b>χ = {row['chi']:g}</b>"] + [f"{label}: {row[col]:.4f}" for col, label, _, _ in panels]
        return " · ".join(parts)

    n_ann = len(fig.layout.annotations)
    annotations = list(fig.layout.annotations) + ([dict(xref="paper", yref="paper", x=0.0, y=1.3, xanchor="left",
                                                        showarrow=False, font=dict(size=13),
                                                        text=readout(i0))] if len(t) else [])
    sliders = []
    if live and len(t):
        steps = []
        for i, c in enumerate(chis):
            relayout = {f"annotations[{n_ann}].text": readout(i)}
            for s in vlines:
                relayout[f"shapes[{s}].x0"] = c
                relayout[f"shapes[{s}].x1"] = c
            steps.append(dict(method="update", label=f"{c:g}", value=f"{c:.10g}", args=[
                {"x": [[c]] * len(panels), "y": [[float(t[col].iloc[i])] for col, _, _, _ in panels]},
                relayout, markers]))
        sliders.append(_slider(chis, i0, steps))
    fig.update_layout(**{**_LAYOUT, "height": 450 if sliders else 360,
                         "margin": dict(l=60, r=20, t=100, b=110 if sliders else 50)},
                      shapes=shapes, annotations=annotations, sliders=sliders, meta=meta, showlegend=False)
    return fig


def predictions_figure(df, *, title: str = ""):
    """Predicted vs true label on the train and the test set, one colour per method (``df`` from
    mastcore_dashboard.compute.predictions: method, split, index, true, predicted). Discrete labels (such as ±1) are
    spread sideways a little per method so the clouds do not hide each other; the dashed line is predicted = true.
    """
    splits = [sp for sp in ("train", "test") if (df["split"] == sp).any()] or ["train"]
    fig = make_subplots(rows=1, cols=len(splits), subplot_titles=[f"{sp} set" for sp in splits],
                        horizontal_spacing=0.08, shared_yaxes=True)
    methods = list(dict.fromkeys(df["method"]))
    discrete = df["true"].nunique() <= 10
    lo = float(np.nanmin(np.r_[df["true"], df["predicted"]])) if len(df) else -1.0
    hi = float(np.nanmax(np.r_[df["true"], df["predicted"]])) if len(df) else 1.0
    for j, sp in enumerate(splits, start=1):
        for m_i, m in enumerate(methods):
            d = df[(df["split"] == sp) & (df["method"] == m)]
            if d.empty:
                continue
            name, color, _ = METHOD_STYLE.get(m, (m, None, None))
            x = d["true"].to_numpy(dtype=float)
            if discrete:  # deterministic spread: method offset plus a jitter from the point's index
                jitter = ((d["index"].to_numpy() * 0.6180339887) % 1.0 - 0.5) * 0.08
                x = x + (m_i - (len(methods) - 1) / 2) * 0.12 + jitter
            fig.add_trace(go.Scattergl(x=x, y=d["predicted"], mode="markers", name=name, legendgroup=m,
                                       showlegend=j == 1, marker=dict(color=color, size=5, opacity=0.6),
                                       hovertemplate="true %{customdata:.3g}<br>predicted %{y:.4f}<extra>"
                                                     + name + "</extra>", customdata=d["true"]),
                          row=1, col=j)
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color="#999999", dash="dash"),
                                 name="predicted = true", showlegend=j == 1, hoverinfo="skip"), row=1, col=j)
    fig.update_xaxes(title_text="true label y")
    fig.update_yaxes(title_text="mean prediction ⟨f⟩", row=1, col=1)
    fig.update_layout(**_LAYOUT, title=title or None)
    return fig


#: Labels of the learning-curve observables (docs/theory.md §0.2).
LEARNING_LABELS = {"mean_y_delta": "mean(y·Δ)", "mean_sq_delta": "mean(Δ²)", "error01": "0–1 error"}


def learning_curves_figure(df, observable: str = "mean_y_delta", *, title: str = ""):
    """Observable against the training-set size P on log–log axes, train and test side by side, one line per
    method; sampled runs (exact posterior, Langevin) as points with error bars. ``df``: mastcore_dashboard.compute.
    learning_curves (mc.sweep's table columns plus P)."""
    label = LEARNING_LABELS.get(observable, observable)
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"train {label}", f"test {label}"), horizontal_spacing=0.1)
    vals = []
    for j, split in enumerate(("train", "test"), start=1):
        col = f"{split}_{observable}"
        if col not in df:
            continue
        for m in dict.fromkeys(df["method"]):
            d = df[df["method"] == m].sort_values("P")
            y = d[col].to_numpy(dtype=float)
            if not np.isfinite(y).any():
                continue
            vals.append(y)
            name, color, dash, symbol = method_style(m)
            sampled = m in METHODS and METHODS[m].sampled
            se = d[f"{col}_se"].to_numpy(dtype=float) if f"{col}_se" in d else None
            fig.add_trace(go.Scatter(
                x=d["P"], y=y, name=name, legendgroup=m, showlegend=j == 1,
                mode="markers" if sampled else "lines+markers",
                line=dict(color=color, dash=dash or "solid", width=METHOD_WIDTH.get(m, 2)),
                marker=dict(color=color, size=9 if sampled or m == "quadrature" else 6, symbol=symbol),
                error_y=dict(type="data", array=se, visible=True) if sampled and se is not None else None,
                hovertemplate="P=%{x}<br>%{y:.5f}<extra>" + name + "</extra>"), row=1, col=j)
    plo, phi = _span(df["P"]) if len(df) else (1.0, 10.0)
    ylo, yhi = _span(np.concatenate(vals)) if vals else (1e-3, 1.0)
    fig.update_xaxes(log_axis(plo, phi, title="training points P"))
    fig.update_yaxes(log_axis(ylo, yhi))
    fig.update_layout(**{**_LAYOUT, "margin": dict(l=60, r=20, t=50, b=110),
                         "legend": dict(orientation="h", yanchor="top", y=-0.2, x=0)}, title=title or None)
    return fig


def kernel_heatmaps(C0, C, order=None, *, titles=("NNGP kernel C0", "adapted kernel C (tree level)")):
    """Side-by-side heatmaps of two (P, P) kernels, rows/columns permuted by ``order`` (e.g. sorted by label)."""
    C0, C = np.asarray(C0), np.asarray(C)
    if order is not None:
        C0, C = C0[np.ix_(order, order)], C[np.ix_(order, order)]
    vmax = float(max(np.max(np.abs(C0)), np.max(np.abs(C))))
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.08)
    for j, M in enumerate((C0, C), start=1):
        fig.add_trace(go.Heatmap(z=M, zmin=-vmax, zmax=vmax, colorscale="RdBu_r", showscale=j == 2,
                                 hovertemplate="α=%{y} β=%{x}<br>%{z:.4f}<extra></extra>"), row=1, col=j)
    fig.update_yaxes(autorange="reversed", scaleanchor=None)
    fig.update_layout(**{**_LAYOUT, "height": 400})
    return fig


def sigma_v_spectrum(eig, *, n_show: int = 40, title: str = ""):
    """Largest eigenvalues of Σ_v in units of the prior g_v/D (the outlier stands out above 1)."""
    eig = np.asarray(eig)[:n_show]
    colors = ["#D55E00"] + ["#0072B2"] * (len(eig) - 1)
    fig = go.Figure(go.Bar(x=np.arange(1, len(eig) + 1), y=eig, marker_color=colors,
                           hovertemplate="#%{x}: %{y:.4f} g_v/D<extra></extra>"))
    fig.add_hline(y=1.0, line=dict(color="#999999", dash="dash"), annotation_text="prior g_v/D")
    fig.update_layout(**{**_LAYOUT, "height": 320}, title=title or None, xaxis_title="eigenvalue index",
                      yaxis_title="eigenvalue of Σ_v / (g_v/D)", showlegend=False)
    return fig


def traces_figure(traces: dict, *, burn_in: int | None = None, steps=None, reference: dict | None = None,
                  reference_on: str | None = None):
    """Equilibration traces (name -> 1-D array against ``steps``), one panel per quantity (one quantity per y axis,
    sharing the x axis), a burn-in line and theory reference lines (name -> value) on the panel ``reference_on``
    (default: the first)."""
    names = list(traces)
    n = max(1, len(names))
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    on = reference_on if reference_on in names else (names[0] if names else None)
    for i, name in enumerate(names, start=1):
        y = np.asarray(traces[name])
        x = np.arange(y.shape[0]) if steps is None else np.asarray(steps)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, line=dict(color="#000000", width=1.5),
                                 showlegend=False), row=i, col=1)
        fig.update_yaxes(title_text=name, row=i, col=1)
        if burn_in:
            fig.add_vline(x=burn_in, line=dict(color="#999999", dash="dash"), row=i, col=1,
                          annotation_text="burn-in" if i == 1 else None)
        if name == on:
            for ref_name, val in (reference or {}).items():
                method = next((m for m, st in METHOD_STYLE.items() if st[0] == ref_name), None)
                color, dash = METHOD_STYLE[method][1:] if method else (None, "dot")
                fig.add_trace(go.Scatter(x=[x[0], x[-1]] if x.size else [0, 1], y=[val, val], mode="lines",
                                         name=ref_name, line=dict(color=color, dash=dash or "dot", width=1.5),
                                         hovertemplate="%{y:.5f}<extra>" + ref_name + "</extra>"), row=i, col=1)
    fig.update_xaxes(title_text="sweep / step", row=n, col=1)
    fig.update_layout(**{**_LAYOUT, "height": 240 * n + 100})
    return fig


def running_figure(seconds, values, se=None, *, reference: dict | None = None, ylabel: str = "",
                   name: str = "networks (running mean)", meta: str | None = None):
    """A running estimate against training time: its value after each block of training (markers and a line, ± its
    standard error as error bars that shrink as networks accumulate) and theory values as horizontal lines
    (``reference``: method -> value, in the methods' styles), to watch the networks converge to the theory.

    seconds, values, se : (n,) training seconds, running value and its standard error after each block.
    """
    x = np.asarray(seconds, dtype=float)
    y = np.asarray(values, dtype=float)
    color = METHOD_STYLE["langevin"][1] if "langevin" in METHOD_STYLE else "#000000"
    traces = []
    span = (0.0, float(x.max()) * 1.05 if x.size and x.max() > 0 else 1.0)
    for method, val in (reference or {}).items():
        label, rcolor, dash = METHOD_STYLE.get(method, (method, None, "dot"))
        traces.append(dict(type="scatter", x=list(span), y=[val, val], mode="lines", name=label,
                           line=dict(color=rcolor, dash=dash or "dot", width=1.5),
                           hovertemplate="%{y:.5f}<extra>" + label + "</extra>"))
    err = None if se is None else dict(type="data", array=np.nan_to_num(np.asarray(se, dtype=float)), visible=True,
                                       thickness=1.5, width=5, color=color)
    traces.append(dict(type="scatter", x=x, y=y, mode="lines+markers", name=name, meta="running",
                       line=dict(color=color, width=1.5), marker=dict(color=color, size=9, symbol="diamond"),
                       error_y=err, hovertemplate="%{x:.1f} s<br>%{y:.5f}<extra>" + name + "</extra>"))
    layout = dict(**{**_LAYOUT, "height": 320}, meta=meta, xaxis=dict(title="training time (s)", range=list(span)),
                  yaxis=dict(title=ylabel))
    return go.Figure(data=traces, layout=layout)


#: Words of the width-scaling chart, also the column names of its table (:func:`width_scaling_table`).
WIDTH_WORDS = dict(width="width N", regime="χ", method="theory", value="mean(y·Δ) (train)",
                   exact="exact posterior", exact_se="± s.e. (Gibbs)", error="|mean(y·Δ) − exact|")


def width_scaling_table(df):
    """The table behind :func:`width_scaling_figure` in the chart's words: width N, χ (the panel: "χ = 1" /
    "χ = N"), theory (the legend's names), mean(y·Δ) (train), exact posterior, |mean(y·Δ) − exact| (the y axis),
    and ± s.e. (Gibbs) when the reference was sampled."""
    out = df.assign(method=[_name(m) for m in df["method"]])
    cols = [c for c in WIDTH_WORDS if c in out and not (c == "exact_se" and not (out[c] > 0).any())]
    return out[cols].rename(columns=WIDTH_WORDS)


def width_scaling_figure(df):
    """|theory − exact| vs N on log–log axes, one panel per regime (χ = 1, χ = N), the exact sampler's s.e. as its
    noise floor, and guide lines ∝ 1/N (through the tree level's first point) and ∝ 1/N² (through the one
    loop's), the rates the theories should follow (docs/theory.md §0.4)."""
    regimes = list(dict.fromkeys(df["regime"]))
    fig = make_subplots(rows=1, cols=len(regimes), subplot_titles=regimes, shared_yaxes=True)
    for j, regime in enumerate(regimes, start=1):
        d = df[df["regime"] == regime]
        for method in dict.fromkeys(d["method"]):
            t = d[d["method"] == method].sort_values("width")
            name, color, dash = METHOD_STYLE.get(method, (method, None, "solid"))
            fig.add_trace(go.Scatter(x=t["width"], y=t["error"], mode="lines+markers", name=name,
                                     line=dict(color=color, dash=dash),
                                     marker=dict(color=color, size=7, symbol=METHOD_MARKER.get(method, "circle")),
                                     legendgroup=method, showlegend=j == 1),
                          row=1, col=j)
        se = d.drop_duplicates("width").sort_values("width")
        if (se["exact_se"] > 0).any():  # a sampled reference (the quadrature is exact: no floor)
            fig.add_trace(go.Scatter(x=se["width"], y=se["exact_se"], mode="lines", name="exact s.e. (noise floor)",
                                     line=dict(color="#000000", dash="dot", width=1), legendgroup="se",
                                     showlegend=j == 1), row=1, col=j)
        for method, power, label in (("tree", 1, "∝ 1/N"), ("one_loop", 2, "∝ 1/N²")):
            t = d[(d["method"] == method) & (d["error"] > 0)].sort_values("width")
            if t.empty:
                continue
            n0, e0 = float(t["width"].iloc[0]), float(t["error"].iloc[0])
            ns = np.asarray(sorted(d["width"].unique()), dtype=float)
            fig.add_trace(go.Scatter(x=ns, y=e0 * (n0 / ns) ** power, mode="lines", name=label,
                                     line=dict(color="#bbbbbb", dash="longdash" if power == 1 else "dashdot",
                                               width=1.5),
                                     legendgroup=f"guide{power}", showlegend=j == 1, hoverinfo="skip"),
                          row=1, col=j)
    wlo, whi = _span(df["width"]) if len(df) else (1.0, 10.0)
    ylo, yhi = _span(np.r_[df["error"].to_numpy(dtype=float), df["exact_se"].to_numpy(dtype=float)]) if len(df) \
        else (1e-4, 1.0)
    fig.update_xaxes(log_axis(wlo, whi, title=WIDTH_WORDS["width"]))
    fig.update_yaxes(log_axis(ylo, yhi))
    fig.update_yaxes(title_text=WIDTH_WORDS["error"], row=1, col=1)
    fig.update_layout(**{**_LAYOUT, "margin": dict(l=60, r=20, t=50, b=110),
                         "legend": dict(orientation="h", yanchor="top", y=-0.2, x=0)})
    return fig


def spins_image(X, y, *, max_rows: int = 200):
    """Inputs as an image (rows = samples sorted by label, columns = input dimensions), labels in a side strip."""
    X, y = np.asarray(X)[:max_rows], np.asarray(y)[:max_rows]
    order = np.argsort(y, kind="stable")
    fig = make_subplots(rows=1, cols=2, column_widths=[0.04, 0.96], horizontal_spacing=0.01,
                        subplot_titles=("y", "inputs x (rows sorted by label)"))
    fig.add_trace(go.Heatmap(z=y[order, None], colorscale="RdBu_r", showscale=False,
                             hovertemplate="sample %{y}: y=%{z}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Heatmap(z=X[order], colorscale="RdBu_r", showscale=True,
                             hovertemplate="sample %{y}, dim %{x}: %{z:.2f}<extra></extra>"), row=1, col=2)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(showticklabels=False, row=1, col=1)
    fig.update_layout(**{**_LAYOUT, "height": 420})
    return fig


def label_balance(y, y_test=None):
    """Histogram of the labels (train, and test if given)."""
    fig = go.Figure()
    for name, v in (("train", y), ("test", y_test)):
        if v is None:
            continue
        v = np.asarray(v)
        vals, counts = np.unique(v, return_counts=True)
        if vals.size <= 10:
            fig.add_trace(go.Bar(x=[f"{u:g}" for u in vals], y=counts / counts.sum(), name=name))
        else:
            fig.add_trace(go.Histogram(x=v, histnorm="probability", name=name, opacity=0.7))
    fig.update_layout(**{**_LAYOUT, "height": 300}, barmode="group", xaxis_title="label y", yaxis_title="share")
    return fig


def kernel_spectrum(eigvals, *, kappa0: float | None = None):
    """Eigenvalues of the NNGP kernel C0 (descending, log axis), with the noise level κ0 for comparison."""
    ev = np.sort(np.clip(np.asarray(eigvals), 1e-16, None))[::-1]
    fig = go.Figure(go.Scatter(x=np.arange(1, ev.size + 1), y=ev, mode="markers+lines", name="eigenvalues of C0"))
    if kappa0 is not None:
        fig.add_hline(y=kappa0, line=dict(color="#D55E00", dash="dash"), annotation_text="κ0")
    fig.update_layout(**{**_LAYOUT, "height": 300}, xaxis_title="index", yaxis_title="eigenvalue", showlegend=False)
    fig.update_yaxes(log_axis(*_span(np.r_[ev, [kappa0] if kappa0 else []])))
    return fig


def digit_samples(X, y, *, n: int = 12, side: int | None = None, zmax: float = 2.5):
    """The first ``n`` inputs as side×side images (D must be a perfect square, e.g. 64 or 784), all on one grey
    colour scale from −``zmax`` to ``zmax`` (the inputs are standardised pixels: 0 = the average image), square
    pixels, with a colour bar; values beyond ±``zmax`` are shown at the ends of the scale."""
    X, y = np.asarray(X), np.asarray(y)
    side = side or int(round(np.sqrt(X.shape[1])))
    if side * side != X.shape[1]:
        raise ValueError(f"'X' must have a square number of columns to be shown as images; got D = {X.shape[1]}")
    n = min(n, X.shape[0])
    cols = min(n, 6)
    rows = int(np.ceil(n / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"y = {y[i]:g}" for i in range(n)],
                        horizontal_spacing=0.02, vertical_spacing=0.12)
    for i in range(n):
        fig.add_trace(go.Heatmap(z=X[i].reshape(side, side), zmin=-zmax, zmax=zmax, colorscale="gray_r",
                                 showscale=i == 0, colorbar=dict(title=dict(text="pixel (std. units)", side="right"),
                                                                 len=0.9, thickness=12),
                                 hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"),
                      row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", constrain="domain")
    for i in range(n):  # square pixels: each image's y axis scaled to its x axis
        suffix = "" if i == 0 else str(i + 1)
        fig.layout[f"yaxis{suffix}"].scaleanchor = f"x{suffix}"
    fig.update_layout(**{**_LAYOUT, "height": 170 * rows + 40})
    return fig


# --- theory map (docs/theory.md §18) ----------------------------------------------------------------------------

def theory_map_figure(table, *, title: str = "", accuracy: float = 0.15):
    """Heatmaps of each theory's error over width N (rows, with P/N) and χ/N (columns), the most accurate theory of
    each cell marked ★ where it meets ``accuracy`` (relative error at most that share; docs/theory.md §18).

    table : ``mastcore.validity.TheoryMap.table`` (columns width, P_over_N, chi_fraction (0 = χ = 1), theory,
    label, relative_error, best). Colour: log10 of the relative error |theory − reference| / |reference − NNGP|
    (the share of the finite-width shift the theory misses; −2 = 1 %). Empty cells were not computed.
    """
    import pandas as pd  # noqa: PLC0415

    df = pd.DataFrame(table)
    theories = list(dict.fromkeys(df["theory"]))
    labels = dict(zip(df["theory"], df["label"]))
    widths = sorted(df["width"].unique())
    cols = sorted(df["chi_fraction"].unique())
    col_text = ["χ = 1" if c == 0 else f"χ/N = {c:g}" for c in cols]
    P_over = df.drop_duplicates("width").set_index("width")["P_over_N"]
    row_text = [f"N = {n} (P/N = {P_over[n]:.2g})" for n in widths]
    n = len(theories)
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[labels[t] for t in theories],
                        horizontal_spacing=0.09, vertical_spacing=0.22)  # room for the tilted ticks above a title
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(df["relative_error"].astype(float).clip(lower=1e-6))
    finite = logs[np.isfinite(logs)]
    zmin, zmax = (float(finite.min()), float(finite.max())) if finite.size else (-3.0, 0.0)
    zmin, zmax = min(zmin, -2.0), max(zmax, 0.0)
    for k, t in enumerate(theories):
        sub = df[df["theory"] == t]
        z = np.full((len(widths), len(cols)), np.nan)
        mark = np.full(z.shape, "", dtype=object)
        for _, r in sub.iterrows():
            i, j = widths.index(r["width"]), cols.index(r["chi_fraction"])
            rel = float(r["relative_error"])
            z[i, j] = np.log10(max(rel, 1e-6)) if np.isfinite(rel) else np.nan
            mark[i, j] = "★" if bool(r["best"]) and np.isfinite(rel) and rel <= accuracy else ""
        fig.add_trace(go.Heatmap(
            z=z, x=col_text, y=row_text, zmin=zmin, zmax=zmax, colorscale="RdYlGn_r", showscale=k == 0,
            text=mark, texttemplate="%{text}", textfont=dict(size=18),
            colorbar=dict(title=dict(text="log10 relative error", side="right"), thickness=12, len=0.9),
            hovertemplate=f"{labels[t]}<br>%{{y}}, %{{x}}<br>log10 relative error %{{z:.2f}}<extra></extra>"),
            row=k // ncols + 1, col=k % ncols + 1)
    for c in range(2, ncols + 1):  # the rows' labels once, left of each row of panels (they would cover the next)
        fig.update_yaxes(showticklabels=False, col=c)
    # the title (if any) above the subplot titles, with room between them
    fig.update_layout(**{**_LAYOUT, "height": 290 * nrows + (130 if title else 80),
                         "margin": dict(l=60, r=20, t=110 if title else 50, b=50),
                         "title": dict(text=title, y=0.99, yanchor="top") if title else None})
    return fig


__all__.append("theory_map_figure")
