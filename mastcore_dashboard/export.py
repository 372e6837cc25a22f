"""Export and citation for the app: a figure's data as a table (CSV download beside every chart) and the BibTeX of
the paper and of this software with the link of the current view. No Streamlit here (mastcore_dashboard/charts.py draws
the buttons and the Cite expander)."""
from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
import pandas as pd

__all__ = ["BIBTEX_PAPER", "bibtex_software", "cite_text", "figure_csv", "figure_table", "view_link"]

#: The paper the library implements (also CITATION.cff's preferred citation).
BIBTEX_PAPER = """@inproceedings{rubin2025kernels,
  title     = {From Kernels to Features: A Multi-Scale Adaptive Theory of Feature Learning},
  author    = {Rubin, Noa and Fischer, Kirsten and Lindner, Javed and Seroussi, Inbar and Ringel, Zohar and
               Kr{\\"a}mer, Michael and Helias, Moritz},
  booktitle = {Proceedings of the 42nd International Conference on Machine Learning (ICML)},
  series    = {Proceedings of Machine Learning Research},
  volume    = {267},
  pages     = {52225--52257},
  publisher = {PMLR},
  year      = {2025},
  url       = {https://proceedings.mlr.press/v267/rubin25a.html}
}"""


def bibtex_software(version: str, url: str | None = None) -> str:
    """BibTeX of this software at ``version`` (CITATION.cff in BibTeX form)."""
    lines = ["@software{mastcore,",
             "  title   = {mastcore: multi-scale adaptive theory of feature learning},",
             "  author  = {{mastcore developers}},",
             f"  version = {{{version}}},",
             "  note    = {Software implementing Rubin et al., ICML 2025},"]
    if url:
        lines.append(f"  url     = {{{url}}},")
    lines.append("  year    = {2025}")
    return "\n".join(lines) + "\n}"


def view_link(base_url: str, params: dict) -> str:
    """The link of a view: the app's address (no query) with its query parameters (the app's state, see
    mastcore_dashboard/state.py). A parameter with several values is repeated."""
    base = base_url.split("?", 1)[0].split("#", 1)[0]
    if not params:
        return base
    return f"{base}?{urlencode(params, doseq=True)}"


def cite_text(version: str, link: str | None) -> str:
    """Everything the Cite expander shows, as one text: both BibTeX entries and the link of the view."""
    parts = [BIBTEX_PAPER, bibtex_software(version)]
    if link:
        parts.append(f"% the view these results come from:\n% {link}")
    return "\n\n".join(parts) + "\n"


def _flat(values) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=object)
    return arr.reshape(-1) if arr.ndim else arr.reshape(1)


def figure_table(fig) -> pd.DataFrame:
    """The data of a plotly figure in long form: one row per point of each trace (per cell of a heatmap).

    Columns: ``trace`` (index), ``name``, ``type``, ``x``, ``y`` and, where the trace has them, ``z`` (heatmaps) and
    ``error_y`` (symmetric error bars). Traces without data (annotations, sliders) give no rows.
    """
    frames = []
    for i, tr in enumerate(fig.data):
        kind = tr.type
        name = getattr(tr, "name", None) or f"trace {i}"
        if kind == "heatmap":
            z = np.asarray(tr.z, dtype=float)
            if z.ndim != 2:
                continue
            xs = np.asarray(tr.x) if tr.x is not None else np.arange(z.shape[1])
            ys = np.asarray(tr.y) if tr.y is not None else np.arange(z.shape[0])
            yy, xx = np.meshgrid(ys, xs, indexing="ij")
            frames.append(pd.DataFrame({"trace": i, "name": name, "type": kind, "x": xx.ravel(), "y": yy.ravel(),
                                        "z": z.ravel()}))
            continue
        x, y = _flat(getattr(tr, "x", None)), _flat(getattr(tr, "y", None))
        if x is None and y is None:
            continue
        n = len(x) if x is not None else len(y)
        cols = {"trace": i, "name": name, "type": kind,
                "x": x if x is not None else np.full(n, np.nan), "y": y if y is not None else np.full(n, np.nan)}
        err = getattr(tr, "error_y", None)
        arr = _flat(getattr(err, "array", None)) if err is not None else None
        if arr is not None and len(arr) == n:
            cols["error_y"] = arr
        frames.append(pd.DataFrame(cols))
    if not frames:
        return pd.DataFrame(columns=["trace", "name", "type", "x", "y"])
    return pd.concat(frames, ignore_index=True)


def figure_csv(fig) -> str:
    """:func:`figure_table` as CSV text."""
    return figure_table(fig).to_csv(index=False)
