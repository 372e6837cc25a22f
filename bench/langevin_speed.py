"""Speed of the Langevin trainer, in one run (docs/theory.md §13).

1. erf networks (N = 100, D = 200, P = 80, ensemble 16, float32): batched steps/s and achieved GFLOP/s of the step
   (two GEMMs of 2·P·D·N·E flops each) against torch's fp32 GEMM throughput measured in the same run, on the
   step's own GEMM shape (P×D)·(D×EN) and on a 1024³ GEMM (target ≥ 60 %). The time of the step's Gaussian noise
   (E·N·(D+1) draws) is reported separately: it is not GEMM work and bounds the achievable fraction on a CPU.
2. linear networks, same sizes: per-step time of the row-space fast path (O(N r), r = rank X ≤ min(P, D)) against
   the naive O(P D N) step (the generic path with φ = id), float64 and float32 (target ≥ 10× faster); also the
   deterministic part alone (force + drift, no noise).

    python bench/langevin_speed.py [--reps 200] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import mastcore as mc  # noqa: E402
from mastcore.posterior.langevin import LangevinOptions, _Chunk  # noqa: E402

P, D, N, E = 80, 200, 100, 16


def _time(fn, reps: int) -> float:
    for _ in range(max(3, reps // 20)):
        fn()
    best = float("inf")
    for _ in range(3):  # best of three blocks: the machine is shared, the minimum is the least disturbed
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def _chunk(activation, dtype, fast, chi=10.0):
    task = mc.make_task(mc.TaskSpec(name="ising", P=P, P_test=10, D=D, p=0.1, seed=0))
    spec = mc.NetworkSpec(width=N, chi=chi, activation=activation)
    return _Chunk(task.X, task.y, None, spec, LangevinOptions(dtype=dtype, fast_linear=fast), E, 0, "cpu")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: on an oversubscribed shared machine OpenMP's spinning threads "
                         "make 2-thread runs up to 100x slower; GEMM and step use the same setting)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    reps = args.reps
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, P={P} D={D} N={N} ensemble={E}")

    # --- 1. erf networks, fp32 --------------------------------------------------------------------------
    ch = _chunk("erf", "float32", False)
    h = 1e-3
    t_step = _time(lambda: ch.step(h, "lm"), reps)
    flops = 4.0 * P * D * N * E
    a = torch.randn(P, D)
    b = torch.randn(D, E * N)
    t_gemm = _time(lambda: torch.mm(a, b), reps)
    sq = torch.randn(1024, 1024)
    t_sq = _time(lambda: torch.mm(sq, sq), max(10, reps // 10))
    gf_step = flops / t_step / 1e9
    gf_gemm = 2.0 * P * D * E * N / t_gemm / 1e9
    gf_sq = 2.0 * 1024**3 / t_sq / 1e9
    noise = torch.empty(E * N * (D + 1))
    t_noise = _time(lambda: noise.normal_(generator=ch.gen), reps)
    print("\n[erf, float32] batched Langevin step vs torch fp32 GEMM (same run)")
    print(f"  step: {t_step * 1e3:8.3f} ms  -> {1 / t_step:8.1f} steps/s ({E / t_step:8.0f} network-steps/s), "
          f"{gf_step:6.1f} GFLOP/s")
    print(f"  GEMM (P x D)(D x EN): {gf_gemm:6.1f} GFLOP/s   GEMM 1024^3: {gf_sq:6.1f} GFLOP/s")
    print(f"  achieved / GEMM same shape: {100 * gf_step / gf_gemm:5.1f} %   / GEMM 1024^3: "
          f"{100 * gf_step / gf_sq:5.1f} %   (target >= 60 %)")
    print(f"  of which Gaussian noise ({E * N * (D + 1)} draws): {t_noise * 1e3:.3f} ms = "
          f"{100 * t_noise / t_step:.0f} % "
          f"of the step; GFLOP/s excluding it: {flops / max(t_step - t_noise, 1e-12) / 1e9:6.1f} "
          f"({100 * flops / max(t_step - t_noise, 1e-12) / 1e9 / gf_gemm:5.1f} % of same-shape GEMM)")

    # --- 2. linear networks: fast row-space step vs naive O(PDN) step ---------------------------------------
    print("\n[linear] per-step time: row-space fast path vs naive O(P D N) step (same noise generator)")
    print(f"  {'dtype':<8} {'naive [ms]':>11} {'fast [ms]':>10} {'speed-up':>9} {'naive force':>12} {'fast force':>11} "
          f"{'force speed-up':>15}")
    for dtype in ("float64", "float32"):
        naive, fast = _chunk("linear", dtype, False), _chunk("linear", dtype, True)
        tn = _time(lambda: naive.step(h, "lm"), reps)
        tf = _time(lambda: fast.step(h, "lm"), reps)
        fn = _time(lambda: naive._data_force_generic(), reps)  # noqa: SLF001
        ff = _time(lambda: fast._data_force_linear(), reps)  # noqa: SLF001
        print(f"  {dtype:<8} {tn * 1e3:>11.3f} {tf * 1e3:>10.3f} {tn / tf:>8.1f}x {fn * 1e3:>12.3f} {ff * 1e3:>11.3f} "
              f"{fn / ff:>14.1f}x   (target >= 10x)")
    print(f"  rank r = {fast.rs.rank}: fast step O(N r) with N r = {N * fast.rs.rank} noise draws per network, naive "
          f"O(P D N) with N D = {N * D}")


if __name__ == "__main__":
    main()
