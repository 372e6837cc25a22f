"""Tasks (docs/theory.md §1): Ising generator, teacher–student, CSV loader, splits, TaskSpec validation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mastcore as mc

SETTINGS = settings(max_examples=40, deadline=None)


def test_ising_is_the_theory_generator():
    # docs/theory.md §1: rng = default_rng(seed); labels choice([-1, 1], P); flips random((P, D)) < p
    X, y = mc.ising(50, 30, 0.2, seed=4)
    rng = np.random.default_rng(4)
    y_ref = rng.choice([-1, 1], 50)
    flips = rng.random((50, 30)) < 0.2
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(X, np.where(flips, -y_ref[:, None], y_ref[:, None]))
    assert X.dtype == np.float64 and set(np.unique(X)) <= {-1.0, 1.0}
    Xb, yb = mc.ising(50, 30, 0.2, seed=4)
    np.testing.assert_array_equal(X, Xb)


def test_ising_flip_rate():
    X, y = mc.ising(400, 200, 0.1, seed=0)
    rate = np.mean(X != y[:, None])
    assert abs(rate - 0.1) < 4 * np.sqrt(0.1 * 0.9 / X.size)  # binomial error bar


def test_make_task_ising_split():
    spec = mc.TaskSpec(name="ising", P=20, P_test=30, D=10, p=0.1, seed=2)
    t = mc.make_task(spec)
    X, y = mc.ising(50, 10, 0.1, seed=2)
    np.testing.assert_array_equal(t.X, X[:20])
    np.testing.assert_array_equal(t.X_test, X[20:])
    np.testing.assert_array_equal(t.y_test, y[20:])
    assert t.P == 20 and t.D == 10 and t.spec == spec
    np.testing.assert_allclose(np.linalg.norm(t.direction), 1.0)


def test_teacher_student():
    X, y, Xs, ys, w = mc.teacher_student(40, 12, P_test=15, noise=0.0, seed=1)
    np.testing.assert_allclose(y, X @ w / np.sqrt(12), atol=1e-14)
    np.testing.assert_allclose(ys, Xs @ w / np.sqrt(12), atol=1e-14)
    t = mc.make_task(mc.TaskSpec(name="teacher_student", P=40, P_test=15, D=12, seed=1))
    np.testing.assert_allclose(t.direction, w / np.linalg.norm(w))
    Xn, yn, *_ = mc.teacher_student(40, 12, P_test=15, noise=0.5, seed=1)
    assert 0 < np.std(yn - Xn @ w / np.sqrt(12)) < 1.0
    with pytest.raises(ValueError, match="'teacher'"):
        mc.teacher_student(4, 3, teacher="nope")


def test_unknown_task_named():
    with pytest.raises(ValueError, match="'name'"):
        mc.make_task(mc.TaskSpec(name="no-such-task"))
    assert {"ising", "teacher_student"} <= set(mc.available_tasks())


def test_register_task():
    def builder(spec):
        X = np.eye(spec.P, spec.D)
        return mc.Task(X, np.ones(spec.P), X, np.ones(spec.P), spec)

    mc.register_task("_unit_identity", builder)
    t = mc.make_task(mc.TaskSpec(name="_unit_identity", P=3, P_test=3, D=4))
    np.testing.assert_array_equal(t.X, np.eye(3, 4))


@SETTINGS
@given(field=st.sampled_from(["P", "P_test", "D"]), value=st.one_of(st.integers(-5, 0), st.just(2.5), st.just("x")))
def test_taskspec_sizes_rejected(field, value):
    with pytest.raises(ValueError, match=f"'{field}'"):
        mc.TaskSpec(**{field: value})


@SETTINGS
@given(p=st.one_of(st.floats(0.5001, 10), st.floats(-10, -1e-9), st.just(float("nan"))))
def test_taskspec_p_rejected(p):
    with pytest.raises(ValueError, match="'p'"):
        mc.TaskSpec(p=p)


@SETTINGS
@given(seed=st.integers(-100, -1))
def test_taskspec_seed_rejected(seed):
    with pytest.raises(ValueError, match="'seed'"):
        mc.TaskSpec(seed=seed)


def test_taskspec_misc():
    with pytest.raises(ValueError, match="'noise'"):
        mc.TaskSpec(noise=-1.0)
    with pytest.raises(ValueError, match="'name'"):
        mc.TaskSpec(name="")
    s = mc.TaskSpec(name="user_task", options=[("a", 1)])  # not registered: its builder checks its options
    assert s.options == (("a", 1),) and hash(s) and s.to_dict()["options"] == {"a": 1}
    assert s.replace(P=5).P == 5


@pytest.mark.parametrize("name, options, match", [
    ("ising", (("a", 1),), "'a' is not an option of task 'ising'"),
    ("digits", (("binary", "foo"),), "'binary' must be one of"),
    ("digits", (("binar", "0 vs 1"),), "'binar' is not an option of task 'digits'"),
    ("digits", ("binary",), "'options' must be a tuple of"),
    ("digits", 5, "'options' must be a tuple of"),
    ("digits", (("binary", "0 vs 1"), ("binary", "even vs odd")), "'options' must name each option once"),
    ("mnist", (("path", 3),), "'path' must be a string or path"),
])
def test_taskspec_option_errors_name_the_option(name, options, match):
    with pytest.raises(ValueError, match=match):
        mc.TaskSpec(name=name, P=10, P_test=10, options=options)


def test_registered_task_options_checked(monkeypatch):
    from mastcore.data import tasks

    monkeypatch.setattr(tasks, "_BUILDERS", dict(tasks._BUILDERS))  # registry restored after the test
    monkeypatch.setattr(tasks, "_OPTIONS", dict(tasks._OPTIONS))
    spec = mc.TaskSpec(name="_options_demo", options=(("mode", "c"),))  # not registered yet: accepted
    mc.register_task("_options_demo", lambda s: s, options={"mode": ("a", "b")})
    assert mc.TaskSpec(name="_options_demo", options=(("mode", "a"),)).options == (("mode", "a"),)
    with pytest.raises(ValueError, match="'mode' must be one of"):
        mc.TaskSpec(name="_options_demo", options=(("mode", "c"),))
    with pytest.raises(ValueError, match="'mode' must be one of"):  # and again when the task is built
        mc.make_task(spec)


# --- CSV loader and splits -------------------------------------------------------------------------------

def test_load_csv_named_and_last_column(tmp_path):
    text = "a,b,label\n1,2,1\n3,4,-1\n5,6,1\n"
    X, y, names = mc.load_csv(text)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(y, [1, -1, 1])
    assert names == ["a", "b"]
    X2, y2, names2 = mc.load_csv(text, label="a")
    np.testing.assert_array_equal(y2, [1, 3, 5]) and names2 == ["b", "label"]
    path = tmp_path / "d.csv"
    path.write_text(text)
    np.testing.assert_array_equal(mc.load_csv(str(path))[0], X)
    np.testing.assert_array_equal(mc.load_csv(text.encode())[1], y)
    # a header made of numbers is data
    Xh, yh, _ = mc.load_csv("1,2,3\n4,5,6\n")
    np.testing.assert_array_equal(yh, [3, 6])


@pytest.mark.parametrize(
    "text, label, match",
    [
        ("a,b\n1,x\n", None, "'b'"),
        ("a,b\n1,\n2,3\n", None, "'b'"),
        ("a\n1\n2\n", None, "2 columns"),
        ("a,b\n", None, "data row"),
        ("", None, "'source'"),
        ("a,b\n1,2\n", "c", "'label'"),
        ("a,b\n1,2\n", 7, "'label'"),
    ],
)
def test_load_csv_errors(text, label, match):
    with pytest.raises(ValueError, match=match):
        mc.load_csv(text if text else b"", label=label)


def test_train_test_split_and_task_from_arrays():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10.0)
    Xtr, ytr, Xte, yte = mc.train_test_split(X, y, 7, seed=0)
    assert Xtr.shape == (7, 2) and Xte.shape == (3, 2)
    assert sorted(np.concatenate([ytr, yte])) == list(y)
    np.testing.assert_array_equal(Xtr[:, 0] / 2, ytr)
    with pytest.raises(ValueError, match="'n_train'"):
        mc.train_test_split(X, y, 10)
    t = mc.task_from_arrays(X, y, 6, seed=1)
    np.testing.assert_allclose(t.X.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(t.X.std(0), 1, atol=1e-12)
    assert t.X_test.shape == (4, 2) and t.spec.P == 6 and t.spec.P_test == 4
