"""Tests of mastcore.datasets: digits, MNIST from IDX/npz fixtures written here, the erf teacher."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from scipy.special import erf

import mastcore as mc
from mastcore.data import digits as ds
from mastcore.data import synthetic

#: Standardised features: train mean 0 and standard deviation 1 per non-constant pixel (float64 round-off).
STD_TOL = 1e-12


def _write_idx(path, arr: np.ndarray, compress=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}
    header = bytes([0, 0, codes[arr.dtype], arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = header + arr.tobytes()
    if compress:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def _fake_mnist(n, seed):
    """Images (n, 28, 28) uint8 whose mean brightness encodes the digit (so tasks are learnable), labels (n,)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    img = rng.integers(0, 120, (n, 28, 28))
    img[:, 10:18, 10:18] += 12 * labels[:, None, None]
    img[:, 0, :] = 0  # a constant border row, as in real MNIST
    return img.astype(np.uint8), labels


@pytest.fixture()
def idx_dir(tmp_path):
    x, y = _fake_mnist(300, 0)
    xt, yt = _fake_mnist(120, 1)
    _write_idx(tmp_path / "train-images-idx3-ubyte", x)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", y)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", xt, compress=True)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", yt, compress=True)
    return tmp_path, (x, y, xt, yt)


def test_read_idx_roundtrip_and_errors(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a", a)
    _write_idx(tmp_path / "b.gz", a, compress=True)
    assert np.array_equal(ds.read_idx(tmp_path / "a"), a)
    assert np.array_equal(ds.read_idx(tmp_path / "b.gz"), a)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(ValueError, match="not an IDX file"):
        ds.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes((tmp_path / "a").read_bytes()[:-3])
    with pytest.raises(ValueError, match="needs"):
        ds.read_idx(tmp_path / "short")


def test_load_mnist_from_idx_dir_and_env(idx_dir, monkeypatch):
    path, (x, y, xt, yt) = idx_dir
    d = ds.load_mnist(path)
    assert np.array_equal(d["x_train"], x) and np.array_equal(d["y_train"], y)
    assert np.array_equal(d["x_test"], xt) and np.array_equal(d["y_test"], yt)
    monkeypatch.setenv(ds.MNIST_ENV, str(path))
    assert np.array_equal(ds.load_mnist()["y_train"], y)
    monkeypatch.delenv(ds.MNIST_ENV)
    with pytest.raises(ValueError, match="not bundled"):
        ds.load_mnist()
    with pytest.raises(ValueError, match="existing folder"):
        ds.load_mnist(path / "nope")
    (path / "train-images-idx3-ubyte").unlink()
    with pytest.raises(ValueError, match="must contain train-images"):
        ds.load_mnist(path)


def test_mnist_task_from_npz(tmp_path):
    x, y = _fake_mnist(800, 2)  # ~160 zeros and ones
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y)
    spec = mc.TaskSpec(name="mnist", P=50, P_test=60, seed=3,
                       options=(("path", str(tmp_path / "mnist.npz")), ("binary", "0 vs 1")))
    t = mc.make_task(spec)
    assert t.X.shape == (50, 784) and t.X_test.shape == (60, 784) and t.spec.D == 784
    assert set(np.unique(t.y)) <= {-1.0, 1.0} and set(np.unique(t.info["digits"])) <= {0, 1}
    assert np.array_equal(t.y, np.where(t.info["digits"] == 1, 1.0, -1.0))
    assert t.info["images"].shape == (50, 28, 28)
    # deterministic in the seed, different across seeds
    assert np.array_equal(mc.make_task(spec).X, t.X)
    assert not np.array_equal(mc.make_task(spec.replace(seed=4)).X, t.X)
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(ValueError, match="x_train"):
        ds.load_mnist(tmp_path / "bad.npz")


def test_mnist_task_even_odd_uses_t10k_for_test(idx_dir):
    path, (x, y, xt, yt) = idx_dir
    t = mc.make_task(mc.TaskSpec(name="mnist", P=100, P_test=80, options=(("path", str(path)),
                                                                             ("binary", "even vs odd"))))
    assert np.array_equal(t.y, np.where(t.info["digits"] % 2 == 0, 1.0, -1.0))
    assert np.array_equal(t.y_test, np.where(t.info["test_digits"] % 2 == 0, 1.0, -1.0))
    # standardised with train statistics; the constant border row is 0 everywhere
    sd = t.X.std(0)
    live = sd > 0
    assert np.allclose(t.X.mean(0), 0, atol=STD_TOL) and np.allclose(sd[live], 1, atol=STD_TOL)
    assert np.all(t.X[:, :28] == 0) and np.all(t.X_test[:, :28] == 0)
    with pytest.raises(ValueError, match="'P_test' at most"):
        mc.make_task(mc.TaskSpec(name="mnist", P=10, P_test=500, options=(("path", str(path)),)))


def test_digits_task_binary_options():
    t = mc.make_task(mc.TaskSpec(name="digits", P=100, P_test=200, seed=1))
    assert t.X.shape == (100, 64) and t.D == 64 and t.spec.D == 64
    assert set(np.unique(t.info["digits"])) == {0, 1}
    assert t.info["images"].shape == (100, 8, 8) and t.info["image_shape"] == (8, 8)
    e = mc.make_task(mc.TaskSpec(name="digits", P=100, P_test=200, seed=1, options=(("binary", "even vs odd"),)))
    assert len(np.unique(e.info["digits"])) == 10
    assert np.array_equal(e.y, np.where(e.info["digits"] % 2 == 0, 1.0, -1.0))
    assert e.X.shape[0] < 1797 and np.linalg.matrix_rank(e.X) < 64  # constant pixels: D = 64 but rank < 64
    with pytest.raises(ValueError, match="'binary' must be one of"):
        mc.make_task(mc.TaskSpec(name="digits", P=10, P_test=10, options=(("binary", "3 vs 5"),)))
    with pytest.raises(ValueError, match="at most"):
        mc.make_task(mc.TaskSpec(name="digits", P=300, P_test=200))  # only 360 zeros and ones
    assert {"digits", "mnist"} <= set(mc.available_tasks())


def test_linear_tree_level_on_digits_uses_row_space():
    """D = 64 < P: the linear theory's row-space path runs and converges (docs/theory.md §11)."""
    t = mc.make_task(mc.TaskSpec(name="digits", P=150, P_test=100, options=(("binary", "even vs odd"),)))
    spec = mc.NetworkSpec(width=100, chi=100.0, kappa0=0.25)
    r = mc.tree_level(t.X, t.y, spec, t.X_test)
    assert r.converged
    assert np.allclose(r.f_test, t.X_test @ np.linalg.pinv(t.X) @ r.f_train, atol=1e-8)


def test_erf_teacher():
    t = mc.make_task(mc.TaskSpec(name="teacher_student", P=40, D=20, P_test=30, teacher="erf", seed=5))
    w = t.info["w_star"]
    assert np.allclose(t.y, erf(t.X @ w / np.sqrt(20)), atol=1e-14)
    assert np.allclose(synthetic.erf_teacher(2.0)(np.array([0.3])), erf(0.6))
    with pytest.raises(ValueError, match="'c' must be > 0"):
        synthetic.erf_teacher(-1.0)


# --- CSV files: encodings, wide files, the column limit -------------------------------------------------

CSV_TEXT = "alpha,beta,label\n1,2,1\n3,4,-1\n5.5,6,1\n"
#: The load must not spend Python per cell: at most this many seconds per 10⁶ cells (measured ~0.3-0.7 s on a
#: shared 2-core machine; pandas' per-column path took 20-37 s per 10⁶ cells on the same 40 × 10⁵ file).
SECONDS_PER_MEGACELL = 2.0


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_csv_in_unicode_encodings_reads_the_same(encoding, tmp_path):
    raw = CSV_TEXT.encode(encoding)
    X, y, names = mc.load_csv(raw)
    assert names == ["alpha", "beta"]  # no garbled first column name (BOM, NUL bytes)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5.5, 6]])
    np.testing.assert_array_equal(y, [1, -1, 1])
    path = tmp_path / "d.csv"
    path.write_bytes(raw)
    assert mc.load_csv(str(path))[2] == ["alpha", "beta"]


def test_csv_in_another_encoding_names_the_expected_one():
    with pytest.raises(ValueError, match=r"'source' must be text in UTF-8 \(or UTF-16 with a byte-order mark\); "
                                         r"byte 0xe9 at position 3"):
        mc.load_csv("caf\u00e9,b,label\n1,2,1\n".encode("latin-1"))


def test_wide_csv_loads_fast_without_python_per_cell(tmp_path):
    import time

    rng = np.random.default_rng(0)
    A = np.round(rng.standard_normal((40, 100_000)), 6)
    path = tmp_path / "wide.csv"
    with open(path, "w") as fh:
        fh.write(",".join(f"c{i}" for i in range(A.shape[1])) + "\n")
        np.savetxt(fh, A, delimiter=",", fmt="%.6f")
    t0 = time.perf_counter()
    X, y, names = mc.load_csv(str(path))
    seconds = time.perf_counter() - t0
    assert X.shape == (40, 99_999) and len(names) == 99_999
    np.testing.assert_array_equal(y, A[:, -1])
    np.testing.assert_array_equal(X[:, :3], A[:, :3])
    assert seconds <= SECONDS_PER_MEGACELL * A.size / 1e6, seconds


def test_csv_column_limit_refused_from_the_header():
    wide = ",".join(f"c{i}" for i in range(11)) + "\n" + "x," * 10 + "1\n"  # the bad data row is never parsed
    with pytest.raises(ValueError, match=r"'source' has 11 columns; at most 10 are read"):
        mc.load_csv(wide, max_columns=10)
    assert mc.data.csv.MAX_COLUMNS >= 100_000  # a 40 × 10⁵ file loads


@pytest.mark.parametrize("text, match", [
    ("a,b\n1,nan\n", r"column 'b' must not have missing values"),
    ("a,b\n1,2\n3\n", r"data row 2 has 1 fields; the header has 2 columns"),
    ("a,b\n1,2\n3,inf\n", r"column 'b' must contain finite numbers only; got inf in data row 2"),
    ('"a,1",b\n1,"2"\n', None),  # quoted names and numbers
])
def test_csv_cells_named(text, match):
    if match is None:
        X, y, names = mc.load_csv(text)
        assert names == ["a,1"] and y.tolist() == [2.0]
        return
    with pytest.raises(ValueError, match=match):
        mc.load_csv(text)
