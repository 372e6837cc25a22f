"""Plotly figure builders (dashboard, CLI, notebooks). Each returns a ``plotly.graph_objects.Figure``.

No streamlit here: pages only place these figures. Inputs are plain arrays and pandas tables as produced by
:func:`mastcore.sweep` (its ``table``).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .sweep import METHODS

__all__ = [
    "METHOD_STYLE",
    "digit_samples",
    "kernel_heatmaps",
    "kernel_spectrum",
    "label_balance",
    "regimes_figure",
    "sigma_v_spectrum",
    "spins_image",
    "traces_figure",
    "vs_chi_figure",
    "width_scaling_figure",
]

_STYLE = {
    "nngp": ("#999999", "dash"),
    "tree": ("#0072B2", "solid"),
    "one_loop": ("#D55E00", "solid"),
    "rescaled": ("#009E73", "dot"),
    "quadrature": ("#000000", "dashdot"),
    "exact": ("#000000", None),
    "langevin": ("#CC79A7", None),
}
#: method -> (label, colour, dash): the labels are the sweep's (mastcore.sweep.METHODS), colour-blind-safe colours.
METHOD_STYLE = {m: (METHODS[m].label, *_STYLE[m]) for m in METHODS}

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


def regimes_figure(table, column: str, chi: float | None = None, refs=None, *, ylabel: str = "", title: str = ""):
    """Discrepancy vs χ (log axis): one curve per method in ``table`` (columns chi, method, ``column``),
    reference points with error bars from ``refs`` (rows with kind, chi, ``column`` and ``column``_se), and a
    vertical marker at the current χ (the last trace: its x is the current χ).
    """
    # traces are built as plain dicts and validated once by go.Figure (add_trace per curve costs ~5 ms each)
    traces = []
    for method, t in table.groupby("method", sort=False):
        if column not in t:
            continue
        t = t.sort_values("chi")
        name, color, dash = METHOD_STYLE.get(method, (method, None, "solid"))
        traces.append(dict(
            type="scatter", x=t["chi"].to_numpy(), y=t[column].to_numpy(), name=name,
            mode="lines+markers" if len(t) < 12 else "lines", line=dict(color=color, dash=dash, width=2.5),
            marker=dict(size=5), hovertemplate="χ=%{x:.3g}<br>%{y:.5f}<extra>" + name + "</extra>",
        ))
    if refs is not None and len(refs):
        for kind, r in refs.groupby("kind", sort=False):
            if column not in r:
                continue
            name, color, _ = METHOD_STYLE.get(kind, (kind, None, None))
            se = r[f"{column}_se"].to_numpy() if f"{column}_se" in r else None
            traces.append(dict(
                type="scatter", x=r["chi"].to_numpy(), y=r[column].to_numpy(), mode="markers", name=name,
                marker=dict(color=color, size=9, symbol="diamond"),
                error_y=None if se is None else dict(type="data", array=se, visible=True, thickness=1.5),
                hovertemplate="χ=%{x:.3g}<br>%{y:.5f}<extra>" + name + "</extra>",
            ))
    shapes = []
    if chi is not None:
        shapes.append(_vline(chi, color="#E69F00", width=2, dash="dot"))
        ys = table.loc[np.isclose(table["chi"], chi), column].tolist() if column in table else []
        traces.append(dict(
            type="scatter", x=[chi] * max(1, len(ys)), y=ys or [None], mode="markers", name=f"χ = {chi:g}",
            marker=dict(color="#E69F00", size=12, symbol="circle-open", line=dict(width=3)),
        ))
    layout = dict(**_LAYOUT, title=title or None, shapes=shapes,
                  xaxis=dict(type="log", title="χ  (1 = standard scaling,  N = mean field)"),
                  yaxis=dict(title=ylabel or column))
    return go.Figure(data=traces, layout=layout)


def vs_chi_figure(table, column: str, chi: float | None = None, *, ylabel: str = "", method: str = "tree",
                  hline: float | None = None, title: str = ""):
    """One quantity of ``method`` vs χ (log axis), with a marker at the current χ and an optional reference line."""
    t = table[table["method"] == method].sort_values("chi")
    name, color, _ = METHOD_STYLE.get(method, (method, None, None))
    fig = go.Figure(go.Scatter(x=t["chi"], y=t[column], mode="lines+markers", name=name, line=dict(color=color)))
    shapes = []
    if hline is not None:
        shapes.append(_hline(hline, color="#999999", dash="dash"))
    if chi is not None:
        shapes.append(_vline(chi, color="#E69F00", width=2, dash="dot"))
    fig.update_layout(**{**_LAYOUT, "height": 320}, title=title or None, shapes=shapes,
                      xaxis=dict(type="log", title="χ"), yaxis=dict(title=ylabel or column), showlegend=False)
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


def traces_figure(traces: dict, *, burn_in: int | None = None, steps=None, reference: dict | None = None):
    """Equilibration traces (name -> 1-D array against ``steps``), a burn-in line and theory reference lines."""
    fig = go.Figure()
    for name, arr in traces.items():
        fig.add_trace(go.Scatter(x=None if steps is None else np.asarray(steps), y=np.asarray(arr), mode="lines",
                                 name=name))
    if burn_in:
        fig.add_vline(x=burn_in, line=dict(color="#999999", dash="dash"), annotation_text="burn-in")
    for name, val in (reference or {}).items():
        fig.add_hline(y=val, line=dict(dash="dot"), annotation_text=name)
    fig.update_layout(**{**_LAYOUT, "height": 320}, xaxis_title="sweep / step", yaxis_title="value")
    return fig


def width_scaling_figure(df):
    """|theory − exact| vs N on log–log axes, one panel per regime (χ = 1, χ = N), exact s.e. as a band."""
    regimes = list(dict.fromkeys(df["regime"]))
    fig = make_subplots(rows=1, cols=len(regimes), subplot_titles=regimes, shared_yaxes=True)
    for j, regime in enumerate(regimes, start=1):
        d = df[df["regime"] == regime]
        for method in dict.fromkeys(d["method"]):
            t = d[d["method"] == method].sort_values("width")
            name, color, dash = METHOD_STYLE.get(method, (method, None, "solid"))
            fig.add_trace(go.Scatter(x=t["width"], y=t["error"], mode="lines+markers", name=name,
                                     line=dict(color=color, dash=dash), legendgroup=method, showlegend=j == 1),
                          row=1, col=j)
        se = d.drop_duplicates("width").sort_values("width")
        fig.add_trace(go.Scatter(x=se["width"], y=se["exact_se"], mode="lines", name="exact s.e. (noise floor)",
                                 line=dict(color="#000000", dash="dot", width=1), legendgroup="se",
                                 showlegend=j == 1), row=1, col=j)
    fig.update_xaxes(type="log", title_text="width N")
    fig.update_yaxes(type="log")
    fig.update_yaxes(title_text="|mean(y·Δ) − exact|", row=1, col=1)
    fig.update_layout(**_LAYOUT)
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
    fig.update_yaxes(type="log")
    return fig


def digit_samples(X, y, *, n: int = 12, side: int | None = None):
    """The first ``n`` inputs as side×side grey images (D must be a perfect square, e.g. 64 or 784)."""
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
        fig.add_trace(go.Heatmap(z=X[i].reshape(side, side), colorscale="gray_r", showscale=False,
                                 hoverinfo="skip"), row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    fig.update_layout(**{**_LAYOUT, "height": 170 * rows + 40})
    return fig
