"""The fast kernels: every layer of scratchdream/layers/ again, in Numba (and BLAS), same functions, same
signatures, same results (tests/test_<layer>.py hold each equal to its NumPy reference).

    conv.py      im2col / col2im + BLAS, 1x1 as one product, 3x3 by winograd.py and 5x5 by winograd5.py;
                 the fused ReLU's epilogue
    pool.py      max (separable, vectorised, first maximum), average, adaptive
    relu.py leaky_relu.py clip.py lrn.py softmax.py batchnorm.py   one parallel pass each
    concat.py    NumPy's concatenate forward, views of dL/dy backward
    linear       the reference itself (one BLAS product is already the fast path)
    blas.py      sgemm called from Numba's threads (one thread pool)
    threads.py   small arrays on one thread
    checks.py    the preconditions every kernel checks before it indexes anything
    heap.py      glibc's malloc keeps big freed buffers for the next step (imported here, once)

`layers/kernel_sets.py` registers them (fast_kernels), one module per layer family; `use_kernels("fast")`,
the default, runs on them.
"""

from . import heap  # noqa: F401, E402 (its import sets glibc's malloc thresholds)
