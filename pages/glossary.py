"""Glossary: every symbol and name of the app in plain words first, then the formula, then where the maths is."""
import re

import streamlit as st

from mastcore_dashboard.header import page_header
from mastcore_dashboard.sidebar import current_settings

#: (term, plain words, formula, section of docs/theory.md)
TERMS = (
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

def _star(text: str) -> str:
    """A lone * (P*, the test set) escaped, so that markdown shows it instead of starting emphasis; ** stays bold."""
    return re.sub(r"(?<!\*)\*(?!\*)", r"\\*", text)


settings = current_settings()
page_header("Glossary", settings,
            "**Every symbol of the app in plain words**, then its formula, then the section of "
            "docs/theory.md that derives it.")
query = st.text_input("Filter", key="gl.filter", placeholder="e.g. χ, one loop, overlap",
                      help="Shows only the entries whose name or text contains these letters.")
needle = query.strip().lower()
shown = 0
for term, plain, formula, section in TERMS:
    if needle and needle not in (term + plain + formula).lower():
        continue
    shown += 1
    with st.container(border=True):
        st.markdown(f"**{_star(term)}** — {_star(plain)}")
        st.markdown(f"Formula: `{formula}` · maths: docs/theory.md {section}")
if not shown:
    st.caption("No entry matches the filter.")
