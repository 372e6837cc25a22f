"""The words of the app: what the pages, the sidebar and the guided tour say, in one place.

Pages only place widgets and figures; their titles, first sentences, explanations, captions and tooltips live here,
so that the wording can be read and kept consistent (one word per concept) without reading the page code. Text with
values in it is a function of those values. The solver flags' sentences are in mastcore_dashboard/words.py.
"""
from __future__ import annotations

#: Tooltips of the sidebar controls (mastcore_dashboard/sidebar.py): what each symbol means, in plain words (the Glossary page says more).
SIDEBAR_HELP = {
    "preset": "Ready-made settings. 'Teaching': small and fast (Ising, P = 20, N = 50). 'Paper Fig. 2': the "
              "paper's setting (Ising, P = 80, P* = 1000, D = 200, N = 100).",
    "task": "The data the network learns. ising: ±1 labels copied into noisy ±1 inputs; teacher_student: labels "
            "from a random linear (or erf) teacher; digits: handwritten 8×8 digits; csv: your upload.",
    "binary": "Which two classes the digit images are split into (digits and MNIST tasks only).",
    "P": "P: number of training examples the network sees.",
    "P_test": "P*: number of test examples, used only to measure how well the network generalises.",
    "D": "D: number of inputs per example (fixed by the data for digits and CSV).",
    "p": "p: chance that an input spin disagrees with the label (Ising task); 0 = clean, 0.5 = pure noise.",
    "width": "N: number of hidden neurons. Large N is where the theories become exact.",
    "kappa0": "κ0: noise in the labels assumed by the network (output noise variance is κ0/χ). Larger κ0 fits "
              "the training data less tightly.",
    "g_v": "g_v: prior variance scale of the input weights (each weight has variance g_v/D).",
    "g_w": "g_w: prior variance scale of the readout weights (variance g_w/(χN)).",
    "activation": "φ: the hidden neurons' nonlinearity. Linear networks have an exact reference and a one loop; "
                  "erf and ReLU are compared with trained networks.",
    "seed": "Random seed of the data set: the same seed always gives the same data.",
    "ansatz": "How the erf/ReLU tree level models one neuron's weights (docs/theory.md §9): a zero-mean Gaussian "
              "(fast) or a Gaussian with a mean (slower). Linear networks are solved exactly.",
}

#: The guided tour (mastcore_dashboard/tour.py): (title, page file, χ as a share of N on a log scale (0 = χ of 1, 1 = χ of N), text). Each text
#: says what the step's view shows (the Teaching preset, linear network) — the step has already set χ.
TOUR = (
    ("1 · The kernel regime", "pages/regimes.py", 0.0,
     "**χ = 1, standard scaling** (the slider is at its left end). The network is close to a fixed kernel "
     "machine, the **NNGP** (grey dashed line, flat in χ). The cards above the chart are not all equal: the "
     "**exact posterior** (black dash-dot) sits just above the NNGP, and the **one loop** and **renormalised one "
     "loop** agree with it to a few parts in 10⁴, while the **tree level** lies below — at χ = 1 it misses the "
     "finite-width effects that the one loop captures."),
    ("2 · Slide χ", "pages/regimes.py", 1.0,
     "**χ = N, mean-field scaling** (the slider is now at its right end). Every curve except the flat NNGP has "
     "fallen: the network learns features, and the part of the labels it misses, mean(y·Δ), is about half the "
     "NNGP's. Here the tree level, the one loops and the exact posterior nearly coincide (each keeps its own line "
     "style and markers). Drag the slider under the chart back towards χ = 1 to watch them rise."),
    ("3 · The kernel adapts", "pages/feature_learning.py", 1.0,
     "**χ = N.** The cards show a neuron's weight covariance Σ_v with one large **outlier** eigenvalue (many "
     "times its prior value g_v/D), whose direction has a large **overlap** with the task direction: the kernel "
     "has stretched along the task. The left heatmap is the NNGP kernel, the right one the adapted kernel."),
    ("4 · Finite width matters", "pages/width_scaling.py", 0.0,
     "Each theory's distance from the **exact posterior** as the width N grows (log–log axes; the widths bracket "
     "P). Left, **χ = 1**: the tree level is further off than even the NNGP, and the one loop's error falls "
     "fastest, roughly like 1/N². Right, **χ = N**: the NNGP stays far off, the tree level's error halves with "
     "each doubling of N (1/N), and the one loop is closer still. Grey lines show the slopes 1/N and 1/N²."),
)


# --- Regimes (pages/regimes.py) -----------------------------------------------------------------------------

REGIMES_TITLE = "Regimes: from kernels to features"
REGIMES_INTRO = (
    "**How far does a network adapt to its data?** The scale χ decides: at χ = 1 a wide network is a fixed "
    "kernel machine (the NNGP), at χ = N it learns features. Drag χ under the chart and watch how much of the "
    "labels each theory leaves unexplained (Δ = y − prediction; lower is better).")
REGIMES_SPLIT_HELP = ("train: the P examples the network was fitted to; test: the P* held-out examples "
                      "(generalisation).")
REGIMES_OBS_HELP = ("mean(y·Δ): the part of the labels the prediction misses; mean(Δ²): the mean squared error. "
                    "Lower is better for both (docs/theory.md §0.2).")
#: Below the chart when no reference run is drawn yet ({sampler}: Gibbs-sampler or Langevin).
REGIMES_RUNS_APPEAR = "{sampler} points with error bars appear here after runs on the **Networks** page."
REGIMES_EXACT_CAPTION = ("**Black dash-dot with open circles: the exact posterior** (mean of infinitely long-trained "
                         "networks; docs/theory.md §7.4). ")
REGIMES_DRAG_CAPTION = ("Drag the χ slider under the chart: the marker and the readout move in the browser; the cards "
                        "above follow when you let go. Keyboard: the slider at the top.")
REGIMES_PREDICTIONS = "What the network predicts at this χ (predicted vs true, train and test)"
REGIMES_PREDICTIONS_CAPTION = (
    "Each dot is one example: its label (x, spread sideways per method when labels are ±1) and the mean prediction "
    "(y). A perfect fit lies on the dashed line; the NNGP shrinks predictions towards 0 more than the "
    "feature-learning theories.")
THEORY_MAP_POINTER = "The **Theory map** page shows where each theory holds."


def regimes_about(methods, linear: bool) -> str:
    """The "What am I looking at?" text of the Regimes page (``methods``: the theories drawn)."""
    return (
        "A network with χ = 1 (standard scaling) behaves like a fixed kernel machine: its errors, measured by the "
        "discrepancy Δ = y − f between labels and mean predictions, do not depend on χ (the flat **NNGP** line). "
        "Slide χ towards N (mean-field scaling) and the hidden weights adapt to the task — the network learns "
        "features and Δ shrinks. The **tree level** (the saddle point of the theory) captures this trend; the "
        "**renormalised kernel** rescales the NNGP kernel by one number"
        + ("; the **one loop** adds the finite-width correction that makes it match the exact posterior."
           if "one_loop" in methods else ".")
        + (" The **exact posterior** (black dash-dot curve with open circles) is the mean prediction of infinitely "
           "long-trained networks, computed exactly by a one-dimensional quadrature (docs/theory.md §7.4): every "
           "theory is judged against it." if linear else "")
        + " **mean(y·Δ)** is the part of the labels the prediction misses, **mean(Δ²)** the squared error; both: "
        "lower is better (docs/theory.md §0.2). Every symbol is explained on the **Glossary** page.")


def regimes_validity(methods) -> str:
    """The erf/ReLU validity note of the Regimes page."""
    return ("**Validity (erf/ReLU):** the tree level uses a Gaussian neuron law (docs/theory.md §9) — close to the "
            "networks at χ ≈ N, but not valid at small χ/N; the renormalised kernel u·C0 is the best simple theory "
            "there." + ("" if "one_loop" in methods else " **One loop: linear networks only.**"))


def regimes_reference(chi: float, exact_name: str, close=None, exact_value: float = 1.0) -> str:
    """The reference line under the chart on linear networks: the exact posterior and the theory closest to it
    (``close``: (name, distance) or None)."""
    text = (f"**Reference at χ = {chi:g}: the {exact_name}** — the black dash-dot curve, the mean prediction of "
            "infinitely long-trained networks.")
    if close is not None:
        gap = close[1] / max(abs(float(exact_value)), 1e-300)
        text += f" Closest theory here: **{close[0]}**, off by {close[1]:.2g} ({100 * gap:.2g} % of the exact value)."
    return f"{text} {THEORY_MAP_POINTER}"


def regimes_recommended(chi: float, name: str, label: str | None, trustworthy: bool, reason: str) -> str:
    """The recommendation line under the chart (mastcore.validity's choice, drawn as ``name``)."""
    same = f" (here: the {label})" if label and label != name else ""
    return (f"**Most accurate curve at χ = {chi:g}: {name}**{same} — "
            + ("trustworthy here. " if trustworthy else "**no theory is trustworthy here.** ")
            + f"{reason} {THEORY_MAP_POINTER}")


def regimes_none_accurate(chi: float, reason: str) -> str:
    return f"**No curve on this chart is known to be accurate at χ = {chi:g}.** {reason} {THEORY_MAP_POINTER}"


def regimes_coming(name: str, runs_now: bool) -> str:
    return (f"The most accurate curve at this χ, the {name}, "
            + ("is being computed …" if runs_now else "waits for its **Compute** button below."))
