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
