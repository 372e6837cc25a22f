"""Real handwritten digits as binary tasks (docs/theory.md §1).

* ``digits``: scikit-learn's bundled 8×8 digits (``sklearn.datasets.load_digits``; ships with the package, no
  download), D = 64.
* ``mnist``: MNIST 28×28 from the standard IDX files (``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, optionally the ``t10k-`` pair) in a directory, or an ``.npz`` with
  ``x_train``/``y_train`` (and optionally ``x_test``/``y_test``), at a user path or ``$MASTCORE_MNIST``.
  Nothing is ever downloaded.

Binary labels (``binary`` option): ``"0 vs 1"`` keeps the digits 0 and 1 (y = +1 for 1, −1 for 0);
``"even vs odd"`` keeps all digits (y = +1 for even, −1 for odd). Inputs are standardised per pixel with the
train-set mean and standard deviation (pixels constant on the train set become 0).
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
from .tasks import Task, TaskSpec, standardize

__all__ = [
    "BINARY_TASKS",
    "binary_labels",
    "digits_task",
    "load_digits",
    "load_mnist",
    "mnist_task",
    "read_idx",
]

BINARY_TASKS = ("0 vs 1", "even vs odd")
MNIST_ENV = "MASTCORE_MNIST"


# --- labels and preprocessing ----------------------------------------------------------------------------------


def binary_labels(digits, binary: str = "0 vs 1") -> tuple[np.ndarray, np.ndarray]:
    """Binary task from digit labels (n,). Returns (keep, y): a boolean mask (n,) and y (n_kept,) in {−1, +1}.

    "0 vs 1": keeps 0 and 1, y = +1 for 1 and −1 for 0. "even vs odd": keeps all, y = +1 for even digits.
    """
    digits = np.asarray(digits).astype(np.int64).ravel()
    if binary == "0 vs 1":
        keep = (digits == 0) | (digits == 1)
        return keep, np.where(digits[keep] == 1, 1.0, -1.0)
    if binary == "even vs odd":
        keep = np.ones(digits.shape, dtype=bool)
        return keep, np.where(digits % 2 == 0, 1.0, -1.0)
    raise ValueError(f"'binary' must be one of {BINARY_TASKS}; got {binary!r}")


def _split(images, digits, P, P_test, seed, binary, source_test=None):
    """Select the binary task, shuffle with ``seed`` and split into P train / P_test test points."""
    keep, y = binary_labels(digits, binary)
    images, digits = images[keep], np.asarray(digits)[keep]
    rng = np.random.default_rng(seed)
    if source_test is None:
        n = images.shape[0]
        if P + P_test > n:
            raise ValueError(
                f"'P' + 'P_test' must be at most {n} (points available for {binary!r}); got {P} + {P_test}"
            )
        idx = rng.permutation(n)
        tr, te = idx[:P], idx[P : P + P_test]
        return images[tr], y[tr], digits[tr], images[te], y[te], digits[te]
    timg, tdig = source_test
    tkeep, ty = binary_labels(tdig, binary)
    timg, tdig = timg[tkeep], np.asarray(tdig)[tkeep]
    if P > images.shape[0] or P_test > timg.shape[0]:
        raise ValueError(
            f"'P' must be at most {images.shape[0]} and 'P_test' at most {timg.shape[0]} for {binary!r}; "
            f"got {P} and {P_test}"
        )
    tr = rng.permutation(images.shape[0])[:P]
    te = rng.permutation(timg.shape[0])[:P_test]
    return images[tr], y[tr], digits[tr], timg[te], ty[te], tdig[te]


def _make(spec: TaskSpec, images, digits, kind, source_test=None) -> Task:
    opts = dict(spec.options)
    binary = opts.get("binary", "0 vs 1")
    tr_img, ytr, dtr, te_img, yte, dte = _split(images, digits, spec.P, spec.P_test, spec.seed, binary, source_test)
    shape = tr_img.shape[1:]
    Xtr, Xte = standardize(tr_img.reshape(len(tr_img), -1), te_img.reshape(len(te_img), -1))
    spec = spec.replace(D=Xtr.shape[1])
    info = {"kind": kind, "binary": binary, "image_shape": shape, "images": tr_img, "digits": dtr,
            "test_digits": dte}
    return Task(Xtr, ytr, Xte, yte, spec, None, info)


# --- digits (bundled) ------------------------------------------------------------------------------------------


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8×8 digits: images (1797, 8, 8) float64 in [0, 16], labels (1797,)."""
    try:
        from sklearn.datasets import load_digits as _ld  # noqa: PLC0415  (bundled data: no download)
    except ImportError:
        raise ImportError("the 'digits' task uses the 8×8 digits bundled with scikit-learn, which is not installed: "
                          "pip install 'mastcore[digits]' (or scikit-learn)") from None

    d = _ld()
    return d.images.astype(np.float64), d.target.astype(np.int64)


def digits_task(spec: TaskSpec) -> Task:
    """Task ``digits``: options ``binary`` ("0 vs 1" default, or "even vs odd"). ``spec.D`` is set to 64."""
    images, digits = load_digits()
    return _make(spec, images, digits, "digits")


# --- MNIST (user files) ----------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into an array of its stored shape.

    Raises ValueError naming the file if the magic number, type code or size is wrong.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"'{path}' is not an IDX file (its first two bytes must be 0)")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"'{path}': unknown IDX type code 0x{code:02x}")
    if ndim < 1 or len(data) < 4 + 4 * ndim:
        raise ValueError(f"'{path}': truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dt = np.dtype(_IDX_DTYPES[code])
    need = int(np.prod(dims)) * dt.itemsize
    body = data[4 + 4 * ndim :]
    if len(body) != need:
        raise ValueError(f"'{path}': IDX body has {len(body)} bytes; the header {dims} needs {need}")
    return np.frombuffer(body, dtype=dt).reshape(dims)


def _find(directory: Path, stem: str):
    for name in (stem, stem.replace("-idx", ".idx")):
        for suffix in ("", ".gz"):
            p = directory / (name + suffix)
            if p.exists():
                return p
    return None


def load_mnist(path=None) -> dict:
    """Load MNIST from IDX files in a directory or from an .npz file (``path`` or ``$MASTCORE_MNIST``).

    Returns ``{"x_train": (n, 28, 28) uint8, "y_train": (n,), "x_test": ... or None, "y_test": ... or None}``.
    Raises ValueError saying what is missing; never downloads.
    """
    if path is None:
        path = os.environ.get(MNIST_ENV)
        if not path:
            raise ValueError(
                f"MNIST is not bundled: pass 'path' (a folder with the IDX files or an .npz) or set ${MNIST_ENV}"
            )
    path = Path(path)
    if not path.exists():
        raise ValueError(f"'path' must be an existing folder or .npz file; got {str(path)!r}")
    if path.is_file():
        if path.suffix != ".npz":
            raise ValueError(f"'path' must be a folder of IDX files or an .npz file; got {str(path)!r}")
        with np.load(path) as z:
            if "x_train" not in z or "y_train" not in z:
                raise ValueError(f"'{path}' must contain arrays 'x_train' and 'y_train'; got {sorted(z.files)}")
            out = {k: (np.asarray(z[k]) if k in z else None) for k in ("x_train", "y_train", "x_test", "y_test")}
    else:
        files = {k: _find(path, stem) for k, stem in (
            ("x_train", "train-images-idx3-ubyte"), ("y_train", "train-labels-idx1-ubyte"),
            ("x_test", "t10k-images-idx3-ubyte"), ("y_test", "t10k-labels-idx1-ubyte"))}
        if files["x_train"] is None or files["y_train"] is None:
            raise ValueError(
                f"'{path}' must contain train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]"
            )
        out = {k: (None if p is None else read_idx(p)) for k, p in files.items()}
    for xk, yk in (("x_train", "y_train"), ("x_test", "y_test")):
        x, y = out[xk], out[yk]
        if (x is None) != (y is None):
            raise ValueError(f"MNIST at '{path}': '{xk}' and '{yk}' must come together")
        if x is not None and (x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]):
            raise ValueError(f"MNIST at '{path}': '{xk}' must be (n, h, w) and '{yk}' (n,); got {x.shape}, {y.shape}")
    return out


def mnist_task(spec: TaskSpec) -> Task:
    """Task ``mnist``: options ``binary`` ("0 vs 1" / "even vs odd") and ``path`` (else ``$MASTCORE_MNIST``).

    Train points come from the MNIST train split; test points from the t10k split when present, else from the
    remaining train images.
    """
    opts = dict(spec.options)
    data = load_mnist(opts.get("path"))
    test = None if data["x_test"] is None else (data["x_test"].astype(np.float64), data["y_test"])
    return _make(spec, data["x_train"].astype(np.float64), data["y_train"], "mnist", test)
