"""The words of the app: what the pages, the sidebar and the guided tour say, in one place.

Pages only place widgets and figures; their titles, first sentences, explanations, captions and tooltips live here,
so that the wording can be read and kept consistent (one word per concept) without reading the page code. Text with
values in it is a function of those values. The solver flags' sentences are in mastcore_dashboard/words.py.
"""
from __future__ import annotations

#: Tooltips of the sidebar controls (mastcore_dashboard/sidebar.py): what each symbol means, in plain words (the
#: Glossary page says more).
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

#: The guided tour (mastcore_dashboard/tour.py): (title, page file, χ as a share of N on a log scale (0 = χ of 1,
#: 1 = χ of N), text). Each text says what the step's view shows (the Teaching preset, linear network) — the step
#: has already set χ.
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
REGIMES_INTRO = ("**How far does a network adapt to its data?** The scale χ decides: at χ = 1 a wide network is a "
                 "fixed kernel machine (the NNGP), at χ = N it learns features. Drag χ under the chart and watch how "
                 "much of the labels each theory leaves unexplained (Δ = y − prediction; lower is better).")
REGIMES_SPLIT_HELP = "train: the P examples the network was fitted to; test: the P* held-out examples (generalisation)."
REGIMES_OBS_HELP = ("mean(y·Δ): the part of the labels the prediction misses; mean(Δ²): the mean squared error. "
                    "Lower is better for both (docs/theory.md §0.2).")
#: Below the chart when no reference run is drawn yet ({sampler}: Gibbs-sampler or Langevin).
REGIMES_RUNS_APPEAR = "{sampler} points with error bars appear here after runs on the **Networks** page."
REGIMES_EXACT_CAPTION = ("**Black dash-dot with open circles: the exact posterior** (mean of infinitely long-trained "
                         "networks; docs/theory.md §7.4). ")
REGIMES_DRAG_CAPTION = ("Drag the χ slider under the chart: the marker and the readout move in the browser; the "
                        "cards above follow when you let go. Keyboard: the slider at the top.")
REGIMES_PREDICTIONS = "What the network predicts at this χ (predicted vs true, train and test)"
REGIMES_PREDICTIONS_CAPTION = ("Each dot is one example: its label (x, spread sideways per method when labels are "
                               "±1) and the mean prediction (y). A perfect fit lies on the dashed line; the NNGP "
                               "shrinks predictions towards 0 more than the feature-learning theories.")
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
            "there." + (" The one loop (`auto`) corrects both (docs/theory.md §12); its band says how far to trust it."
                        if "one_loop" in methods else ""))


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


# --- Feature learning (pages/feature_learning.py) --------------------------------------------------------------------
FEATURES_TITLE = "Feature learning: the kernel adapts to the task"
FEATURES_INTRO = ("**What does the network learn?** As χ grows, each hidden neuron's weights stretch along one "
                  "special direction that lines up with the task, and the network's kernel (how similar it finds two "
                  "inputs) adapts.")
FEATURES_ABOUT = ("At tree level the network's kernel changes from the NNGP kernel C0 to an adapted kernel C. The "
                  "weights of each hidden neuron get one special direction — an **outlier eigenvalue** of their "
                  "covariance Σ_v — that lines up with the task direction (all-ones for the Ising task, w* for "
                  "teacher–student; docs/theory.md §4.6).")
FEATURES_HOW_MUCH_ADAPTED_KERNEL = ("How much the adapted kernel is stretched overall: f_tree = s·K_B (s·K_B + κ0)⁻¹ "
                                    "y exactly (docs/theory.md §4.3). 1 = no adaptation.")
FEATURES_LARGEST_EIGENVALUE_NEURON_S = ("Largest eigenvalue of a neuron's weight covariance, in units of its prior "
                                        "g_v/D: above 1 the weights have stretched along one direction "
                                        "(docs/theory.md §4.6).")
FEATURES_TOP_EIGENVECTOR_V_TASK = ("|top eigenvector of Σ_v · task direction|: 1 = the stretched direction is the "
                                   "task's.")
FEATURES_MAX_F_TREE_GP = "max|f_tree − GP(s_fit·C0)| as a share of the feature-learning shift max|f_tree − f_NNGP|"
FEATURES_DRAG_UNDER_PANELS_MARKERS = ("Drag χ under the panels: the markers and the numbers move in the browser; the "
                                      "kernels below follow when you let go.")


# --- Networks (pages/networks.py) ------------------------------------------------------------------------------------
NETWORKS_TITLE = "Networks: sample the posterior, train real networks"
NETWORKS_INTRO = ("**Do the theories describe real networks?** Run the references they are judged by, at the current "
                  "χ, and compare.")
NETWORKS_ABOUT = ("The **exact posterior** of a linear network (Gibbs sampling, docs/theory.md §7) and **networks "
                  "trained with Langevin dynamics** (whose stationary law is that posterior, §13) are the references "
                  "every theory is judged by. Runs are cached on disk: the ones listed below load instantly.")
NETWORKS_EXACT_POSTERIOR_SAMPLER_LINEAR = ("The exact posterior sampler is for linear networks; use Langevin "
                                           "training for erf/ReLU.")
NETWORKS_EXACT_POSTERIOR_WHAT_INFINITELY = ("exact posterior: what an infinitely long Bayesian training run "
                                            "converges to (linear networks); Langevin networks: an ensemble of real "
                                            "networks trained with noisy gradient descent.")
NETWORKS_INDEPENDENT_MARKOV_CHAINS_THEIR = "Independent Markov chains; their spread gives the error bar."
NETWORKS_INDEPENDENT_NETWORKS_TRAINED_SIDE = ("Independent networks trained side by side; their spread gives the "
                                              "error bar.")
NETWORKS_RUNS_CURRENT_LONG_RUNS = "Runs at the current χ; long runs get a progress bar and a Cancel button."
NETWORKS_NUMBER_SWEEPS_MUST_LARGER = ("The number of sweeps must be larger than the burn-in: increase 'sweeps' or "
                                      "lower 'burn-in sweeps'.")
NETWORKS_NUMBER_STEPS_MUST_LARGER = ("The number of steps must be larger than the burn-in: increase 'training steps' "
                                     "or lower 'burn-in steps'.")
NETWORKS_RUNS_STORED_DISK_CACHE = ("Runs stored in the disk cache for this data and network (any χ and options); the "
                                   "newest first.")
NETWORKS_RUN_NO_LONGER_DISK = "This run is no longer in the disk cache (it was cleared); run it again above."
NETWORKS_LOWER_MEAN_Y_PREDICTION = ("Lower mean(y·Δ) = the prediction explains more of the labels. Theories have no "
                                    "error bar (they are computed, not sampled). The run also appears as a point "
                                    "with an error bar on the **Regimes** page.")


# --- Width scaling (pages/width_scaling.py) --------------------------------------------------------------------------
WIDTH_TITLE = "Width scaling: error against the exact posterior as N grows"
WIDTH_INTRO = ("**Which theory can you trust at a given width?** Each theory is compared with the exact answer for "
               "networks of growing width N, in both scalings.")
WIDTH_ABOUT = ("The paper's central claim, made visible: in **mean-field scaling (χ = N)** the tree level's error "
               "falls like 1/N while the NNGP stays wrong; in **standard scaling (χ = 1)** the tree level is no "
               "better than the NNGP and the **one loop** is needed (its error falls like 1/N²). Grey guide lines "
               "show the slopes 1/N and 1/N² (docs/theory.md §0.4). The reference is the **exact posterior** (the "
               "mean of infinitely long-trained networks): by default its exact value from a one-dimensional "
               "quadrature (docs/theory.md §7.4), drawn at once; the Gibbs sampler (with its noise floor) on request.")
WIDTH_EXACT_POSTERIOR_EXISTS_LINEAR = ("The exact posterior exists for linear networks only: choose **linear** in "
                                       "the sidebar.")
WIDTH_WIDTHS_COMPARE_DEFAULT_FROM = ("Widths to compare (default: from P/4 to 4P, bracketing P); each one is "
                                     "computed at χ = 1 and χ = N.")
WIDTH_BOTH_EXACT_POSTERIOR_LINEAR = ("Both are the exact posterior of the linear network: the quadrature gives its "
                                     "mean exactly (docs/theory.md §7.4), the Gibbs sampler estimates it with error "
                                     "bars (§7).")
WIDTH_SWEEPS_EXACT_SAMPLER_PER = "Sweeps of the exact sampler per chain (more = smaller noise floor)."
WIDTH_RUNS_THEORIES_REFERENCE_EVERY = "Runs the theories and the reference for every width (cached on disk)."


# --- Learning curves (pages/learning_curves.py) ----------------------------------------------------------------------
CURVES_TITLE = "Learning curves"
CURVES_INTRO = ("**How does the error fall with more data?** Each theory's training and test errors against the "
                "number of training examples P, on log–log axes, at one χ.")


def curves_about(P_test: int, labels, exact: bool) -> str:
    """What the Learning curves page draws (``labels``: the methods' names; ``exact``: the exact posterior too)."""
    return (f"The test set stays the same (P* = {P_test}); each P draws its own training set from the sidebar's seed. "
            "Methods: " + ", ".join(f"**{label}**" for label in labels)
            + ("; the **exact posterior** of a linear network (the mean of infinitely long-trained networks: black "
               "dash-dot line with open circles) comes from a one-dimensional quadrature, exact and cheap "
               "(docs/theory.md §7.4)" if exact else "")
            + ". Networks (exact sampler, Langevin) appear as points where the disk cache holds a run at this χ and P "
            "(make them on the **Networks** page).")


CURVES_LEARNING_CURVES_LOG_SCALE = "χ of the learning curves (log scale: 1 = standard … N = mean field)"
CURVES_EACH_P_ONE_MC = "Each P is one mc.sweep of every method at this χ (cached on disk)."
CURVES_MEAN_Y_PART_LABELS = ("mean(y·Δ): the part of the labels the prediction misses; mean(Δ²): mean squared error; "
                             "0–1 error: share of wrong signs. Lower is better for all three (docs/theory.md §0.2).")
CURVES_ERROR_SHARE_WRONG_SIGNS = ("The 0–1 error (share of wrong signs) is defined for ±1 labels only, and this "
                                  "task's labels are not ±1 (e.g. {0, 1}, several classes or real values): choose "
                                  "mean(y·Δ) or mean(Δ²), or encode two classes as −1/+1.")
CURVES_BOTH_AXES_LOGARITHMIC_STRAIGHT = ("Both axes are logarithmic: a straight line means a power law, error ∝ "
                                         "P^(−slope). Lower is better.")


# --- Theory map (pages/theory_map.py) --------------------------------------------------------------------------------
MAP_REFERENCE_EXACT_POSTERIOR_LINEAR = ("The reference is the **exact posterior** of the linear network (a "
                                        "one-dimensional quadrature, docs/theory.md §7.4): the whole map takes "
                                        "seconds. ")
MAP_REFERENCE_ENSEMBLE_TRAINED_NETWORKS = ("The reference is an ensemble of **trained networks** (Langevin dynamics, "
                                           "docs/theory.md §13), computed on demand and kept in the disk cache; a "
                                           "map takes minutes, with progress and a Cancel button. ")
MAP_COLUMNS_MAP_STANDARD_SCALING = "Columns of the map: χ = 1 is standard scaling, χ/N = 1 mean-field scaling."
MAP_EMPTY_CELLS_NO_REFERENCE = ("Empty cells: no reference there yet (networks are computed when you press the "
                                "button above).")
MAP_RECOMMENDATION_SIDEBAR_S_N = "The recommendation is for the sidebar's N and this χ (docs/theory.md §18)."


# --- Data (pages/data.py) --------------------------------------------------------------------------------------------
DATA_TITLE = "Data: the task the network learns"
DATA_INTRO = "**What does the network see?** The inputs and labels of the current task, and how to use your own data."
DATA_STANDARDISED_PIXELS_EACH_PIXEL = ("Standardised pixels (each pixel minus its mean over the training images, "
                                       "divided by its spread): dark = more ink than the average digit there, light "
                                       "= less.")
DATA_SPECTRUM_NNGP_KERNEL_C = "**Spectrum of the NNGP kernel C0** (train set; docs/theory.md §3)"
DATA_EIGENVALUES_ABOVE_DIRECTIONS_NETWORK = ("Eigenvalues above κ0 are directions the network fits; those below it "
                                             "are treated as noise.")
DATA_UPLOAD_CSV_HEADER_ROW = ("Upload a CSV with a header row: numeric feature columns and the label in the **last** "
                              "column (e.g. ±1). The first P rows (after a seeded shuffle) are the training set, the "
                              "rest the test set; features are standardised.")
DATA_SWITCHES_TASK_CSV_SESSION = "Switches the task to 'csv' (this session only: uploads are not in the URL)."


# --- Glossary (pages/glossary.py) -------------------------------------------------------------------------------------

#: (term, plain words, formula, section of docs/theory.md)
GLOSSARY_TERMS = (
    ("χ (chi), the scale",
     "How strongly the hidden layer may adapt to the data. At χ = 1 (standard scaling) a very wide network keeps "
     "its random features and acts as a fixed kernel machine; at χ = N (mean-field scaling) the features are "
     "learned. The app lets you slide χ between the two.",
     "readout prior variance g_w/(χN), output noise variance κ0/χ; meaningful range 1 ≤ χ ≤ N", "§1.2"),
    ("N, the width", "The number of hidden neurons. The theories become exact as N grows.",
     "f(x) = Σᵢ₌₁ᴺ wᵢ φ(vᵢ·x)", "§1.1"),
    ("P, the training set size", "How many labelled examples the network learns from.",
     "X is P × D, y has P entries", "§1.3"),
    ("P*, the test set size", "How many held-out examples measure how well the network generalises.",
     "X* is P* × D", "§1.3"),
    ("D, the input dimension", "How many numbers describe one example (pixels, spins, features).",
     "x ∈ ℝᴰ", "§1.1"),
    ("κ0 (kappa zero), the noise", "How much noise the network assumes in the labels: larger κ0 fits the training "
     "data less tightly (and regularises more).", "output noise variance κ0/χ", "§1.2"),
    ("g_v, input-weight scale", "The typical size of the input weights before training.",
     "vᵢ ~ N(0, (g_v/D)·I)", "§1.1"),
    ("g_w, readout-weight scale", "The typical size of the readout weights before training.",
     "wᵢ ~ N(0, g_w/(χN))", "§1.1"),
    ("φ, the activation", "The hidden neurons' nonlinearity: linear (φ(h) = h), erf or ReLU.",
     "φ ∈ {identity, erf, ReLU}", "§1.1"),
    ("NNGP", "The infinitely wide network at χ = 1: a Gaussian process (a kernel machine) whose kernel C0 is fixed "
     "by the prior and never learns. It does not depend on χ: the flat line of the Regimes chart.",
     "f_NNGP = C0 (C0 + κ0)⁻¹ y", "§3"),
    ("tree level", "The saddle point (most likely value) of the network's kernel, including how it adapts to the "
     "data. Exact for very wide networks at χ = N; it misses finite-width effects at χ = 1.",
     "C⁻¹ = C0⁻¹ + R/N − (χ/N) a aᵀ, f_tree = y − κ0 a", "§4"),
    ("one loop", "The tree level plus the random fluctuations of the kernel around it, to order 1/N. It is what "
     "makes the theory accurate at standard scaling (χ = 1) for finite N; its error falls like 1/N².",
     "Gaussian fluctuations of C around the saddle (the fluctuation operator of §5)", "§6"),
    ("renormalised kernel (u·C0)", "The simplest adaptive theory: the NNGP kernel multiplied by one number u, "
     "chosen by the data (kernel renormalisation). Works for any activation and is often the best simple theory "
     "at small χ.", "u maximises Φ(u) = (N/2)(ln u − u) + L(u·C0)", "§9.5"),
    ("exact posterior", "The exact Bayesian answer for a linear network: what an infinitely long noisy training "
     "run averages to. The app computes it by Gibbs sampling (with error bars) or by a one-dimensional "
     "quadrature (exact).", "p(V, w | X, y) ∝ prior · exp(−(χ/(2κ0))‖y − f(X)‖²)", "§7"),
    ("Langevin networks", "Real networks trained by noisy gradient descent (Langevin dynamics); an ensemble of them "
     "samples the same posterior, for any activation.", "θ ← θ − h∇U + √(h/2)(ξₙ + ξₙ₊₁)", "§13"),
    ("Δ, the discrepancy", "For each example, how far the label is from the network's mean prediction.",
     "Δ_α = y_α − ⟨f(x_α)⟩", "§0.2"),
    ("mean(y·Δ)", "The share of the labels the prediction does not reproduce, measured along the labels. "
     "**Lower is better**: 0 is a perfect fit; feature learning lowers it as χ grows. The observable of the "
     "paper's Fig. 2.", "mean(y·Δ) = (1/P) Σ_α y_α Δ_α  (for ±1 labels: 1 − mean(y·f))", "§0.2"),
    ("mean(Δ²)", "The mean squared error of the mean prediction (on the train or the test set). **Lower is "
     "better.**", "mean(Δ²) = (1/P) Σ_α Δ_α²", "§0.2"),
    ("0–1 error", "The share of examples whose predicted sign is wrong. **Lower is better.**",
     "mean(sign⟨f⟩ ≠ sign y)", "§0.2"),
    ("Σ_v, the weight covariance", "How the input weights of one hidden neuron vary around zero after learning. "
     "Before learning it is round (the same in every direction); learning stretches it along the task.",
     "Σ_v⁻¹ = (D/g_v) I − (χ g_w/N) u uᵀ + (g_w/N) Xᵀ R X", "§4.2"),
    ("outlier of Σ_v", "The one eigenvalue of Σ_v that grows above the prior g_v/D as the network learns: the "
     "stretched direction.", "≈ (g_v/D)·s along u = Xᵀa", "§4.6"),
    ("overlap", "How well the stretched direction of Σ_v lines up with the task's own direction: 1 = perfectly, "
     "0 = not at all.", "|top eigenvector of Σ_v · task direction|", "§4.6"),
    ("rescaling factor s", "How much the adapted kernel is stretched overall; the tree level's prediction is exactly "
     "that of a kernel machine with the background kernel multiplied by s.", "f_tree = s K_B (s K_B + κ0)⁻¹ y",
     "§4.3"),
)
GLOSSARY_INTRO = ("**Every symbol of the app in plain words**, then its formula, then the section of docs/theory.md "
                  "that derives it.")
GLOSSARY_FILTER_HELP = "Shows only the entries whose name or text contains these letters."


# --- texts with values in them ------------------------------------------------------------------------------

def map_intro(accuracy: float) -> str:
    """The Theory map's first sentence (``accuracy``: mastcore_dashboard.theory_map.ACCURACY)."""
    return ("**Which theory can you trust, and where?** Each theory's error against the exact answer over the width N "
            "(rows, with P/N) and the scale χ/N (columns); ★ marks the most accurate theory of a cell where it is "
            f"accurate: within {100 * accuracy:g} % of the exact answer's finite-width shift.")


def map_colours(linear: bool, accuracy: float, log10_accuracy: float) -> str:
    """What the Theory map's colours and stars mean."""
    return ((MAP_REFERENCE_EXACT_POSTERIOR_LINEAR if linear else MAP_REFERENCE_ENSEMBLE_TRAINED_NETWORKS)
            + "Colour: log10 of the share of the finite-width shift (exact − NNGP) a theory misses: −2 is 1 %, 0 is "
            f"100 %. **★: the most accurate theory of the cell, where it misses at most {100 * accuracy:g} % of the "
            f"shift** (|theory − exact| ≤ {accuracy:g}·|exact − NNGP|, log10 ≤ {log10_accuracy:.2f}: the accuracy "
            "the recommendation calls trustworthy, docs/theory.md §18); a cell without ★ has no theory that accurate.")


def features_message(rescaling_gap: float) -> str:
    """The paper's message beside the Σ_v spectrum (``rescaling_gap``: share of the shift the best scalar misses)."""
    return (f"**The paper's message.** A rescaled NNGP kernel s·C0 reproduces the mean predictor: the best single "
            f"scalar misses only {100 * rescaling_gap:.2f} % of the feature-learning shift here. But it cannot "
            "reproduce the *directional* change of the weights: s·C0 corresponds to an isotropic Σ_v = s·(g_v/D)·I, "
            "while the adapted network stretches Σ_v along one direction (the outlier on the left), aligned with the "
            "task.")


def width_scan(P: int, D: int, sidebar_P: int, sidebar_D: int, widths) -> str:
    """What the Width-scaling scan uses and how its widths sit around P."""
    same = P == sidebar_P and D == sidebar_D
    widths = sorted(widths)
    text = (f"This scan uses **P = {P} and D = {D}**"
            + (" — the sidebar's values." if same else f" (the sidebar says P = {sidebar_P}, D = {sidebar_D}).")
            + " The sidebar's task, κ0, g_v, g_w and seed are used. ")
    if not widths:
        return text
    if widths[0] < P < widths[-1]:
        return text + (f"The widths {', '.join(map(str, widths))} bracket P = {P} (P/N from {P / widths[-1]:.2g} to "
                       f"{P / widths[0]:.2g}): the one loop's expansion is in P/N.")
    return text + (f"All chosen widths are {'below' if widths[-1] <= P else 'above'} P = {P}: add widths on the other "
                   "side of P to see both sides of the one loop's expansion in P/N.")
