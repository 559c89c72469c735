"""Matrix products for the fast convolutions, on one pool of threads.

NumPy's matmul runs OpenBLAS on OpenBLAS's own threads, and Numba's parallel loops run on Numba's.
Alternating the two (transform, product, transform, ...) makes each pool's idle threads spin on the cores
the other pool needs; on 2 cores that can double the time of a step. So the products here run *inside* a
Numba `prange`: the work is cut into independent blocks (a batch entry, a band of columns), and each
Numba thread calls OpenBLAS's single-threaded sgemm on its own block. One pool, no oversubscription.

    matmul(a, b, out, trans_a=False, accumulate=False):  out[i] (+)= op(a[i]) @ b[i]   (2-D or 3-D)

Each block's sgemm must run on its own thread only. OpenBLAS's openblas_set_num_threads_local says so
per thread in its OpenMP builds, but in the pthreads build NumPy ships it sets the process-wide count, and
the workers' set-and-restore raced: two workers, the last to restore put back the other's 1, so after a
dream step NumPy's own matmul ran on one thread (2048^3 sgemm 208 -> 101 GFLOP/s on 2 cores). So
`one_thread_each` sets the process-wide count to 1 around every parallel region that calls sgemm and puts
back what was there before.

The sgemm symbol is found through threadpoolctl (which names the BLAS library NumPy loaded). When it
cannot be found (MKL, Accelerate, an old OpenBLAS without per-thread settings) or the data are float64,
the product is NumPy's own matmul: same result, NumPy's threading.
"""

import ctypes

import numba
import numpy as np
from numba import njit, prange

from ...errors import UserError

_I64, _I32 = ctypes.c_int64, ctypes.c_int


def _find_sgemm():
    """(sgemm, set_local_threads, get_threads, set_threads) as ctypes functions from NumPy's OpenBLAS (the
    last two: the process-wide count), or four Nones."""
    try:
        from threadpoolctl import threadpool_info

        libs = [i for i in threadpool_info() if i.get("internal_api") == "openblas"]
        if not libs:
            return None, None
        lib = ctypes.CDLL(libs[0]["filepath"])
        local = getattr(lib, "openblas_set_num_threads_local", None)
        for prefix, suffix, blasint in (
            ("scipy_", "64_", _I64),
            ("", "64_", _I64),
            ("scipy_", "", _I32),
            ("", "", _I32),
        ):
            name = f"{prefix}cblas_sgemm{suffix}"
            get, put = (
                f"{prefix}openblas_get_num_threads{suffix}",
                f"{prefix}openblas_set_num_threads{suffix}",
            )
            if local is not None and all(hasattr(lib, n) for n in (name, get, put)):
                proto = ctypes.CFUNCTYPE(
                    None,
                    _I32,
                    _I32,
                    _I32,
                    blasint,
                    blasint,
                    blasint,
                    ctypes.c_float,
                    ctypes.c_void_p,
                    blasint,
                    ctypes.c_void_p,
                    blasint,
                    ctypes.c_float,
                    ctypes.c_void_p,
                    blasint,
                )
                return (
                    proto((name, lib)),
                    ctypes.CFUNCTYPE(_I32, _I32)(("openblas_set_num_threads_local", lib)),
                    ctypes.CFUNCTYPE(_I32)((get, lib)),
                    ctypes.CFUNCTYPE(None, _I32)((put, lib)),
                )
    except (OSError, ImportError, AttributeError):
        pass
    return None, None, None, None


SGEMM, SET_LOCAL_THREADS, GET_THREADS, SET_THREADS = _find_sgemm()


def one_thread_each(kernel, *args):
    """kernel(*args), a parallel loop whose threads call sgemm, with OpenBLAS's process-wide thread count
    at 1 meanwhile and put back afterwards (see the module's docstring)."""
    before = GET_THREADS()
    SET_THREADS(1)
    try:
        return kernel(*args)
    finally:
        SET_THREADS(before)


ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
MIN_COLS = 96  # narrowest column band worth a separate sgemm call
# A single product with a side under THIN (the 27 taps of a 3-channel 3x3 first layer, or the 27 rows of
# its input gradient) streams a wide operand through the cache and is memory-bound: bands of THIN_COLS
# columns keep each band's operands in a core's L2. VGG16's first layer, 2 threads, 224 px: forward product
# 2.81 -> 2.21 ms, input gradient's 1.57 -> 1.26 ms (the layer 8.1 -> 6.9 ms); 512 px: 13.2 -> 10.9 and
# 13.5 -> 9.7 ms. Wider products lose 5-15% in such bands (GoogLeNet's 147-tap first layer, the 1x1 and
# Winograd products), so they keep theirs; a batch of products (Winograd's 36) too, unmeasured.
THIN, THIN_COLS = 32, 512


@njit(parallel=True, cache=True)
def _sgemm_blocks_nb(sgemm, set_local, a, b, out, trans_a, beta, chunk):
    """out[i][:, j0:j1] = op(a[i]) @ b[i][:, j0:j1] + beta out[i][:, j0:j1] for every batch entry i and column
    band, one sgemm each (beta 0: out is only written; 1: the product is added to it)."""
    B, M, N = out.shape
    K = b.shape[1]
    lda, ldb, ldc = a.strides[1] // 4, b.strides[1] // 4, out.strides[1] // 4
    bands = (N + chunk - 1) // chunk
    for task in prange(B * bands):
        i, j0 = task // bands, (task % bands) * chunk
        j1 = min(N, j0 + chunk)
        old = set_local(1)  # this thread's sgemm stays on this thread
        sgemm(
            ROW_MAJOR,
            TRANS if trans_a else NO_TRANS,
            NO_TRANS,
            M,
            j1 - j0,
            K,
            1.0,
            a[i].ctypes.data,
            lda,
            b[i].ctypes.data + 4 * j0,
            ldb,
            beta,
            out[i].ctypes.data + 4 * j0,
            ldc,
        )
        set_local(old)


def matmul(a, b, out, trans_a=False, accumulate=False):
    """out = op(a) @ b (out += op(a) @ b if accumulate), 2-D or 3-D; op transposes a's last two axes if
    trans_a.

    Rows may be strided (a band of columns of a bigger matrix), the last axis must be contiguous.
    """
    if a.ndim == 2:
        a, b, out = a[None], b[None], out[None]
    _check(a, b, out, trans_a)
    fast = (
        SGEMM is not None
        and a.dtype == b.dtype == out.dtype == np.float32
        and all(t.strides[2] == 4 and t.strides[1] >= 4 * t.shape[2] for t in (a, b, out))
    )
    if not fast:
        prod = np.matmul(a.transpose(0, 2, 1) if trans_a else a, b, out=None if accumulate else out)
        if accumulate:
            out += prod
        return out
    B, M, N = out.shape
    threads = numba.get_num_threads()
    want = max(1, -(-2 * threads // B))  # enough blocks for every thread, twice over
    chunk = max(MIN_COLS, -(-N // want))
    if B == 1 and min(M, b.shape[1]) < THIN:
        chunk = min(chunk, THIN_COLS)
    beta = 1.0 if accumulate else 0.0
    one_thread_each(_sgemm_blocks_nb, SGEMM, SET_LOCAL_THREADS, a, b, out, bool(trans_a), beta, chunk)
    return out


def _check(a, b, out, trans_a):
    """sgemm trusts the shapes it is given: they must agree, or it reads and writes past the arrays."""
    B, M, N = out.shape
    K = b.shape[1]
    want_a = (B, K, M) if trans_a else (B, M, K)
    if a.shape != want_a or b.shape != (B, K, N):
        op = " (transposed)" if trans_a else ""
        raise UserError(f"matmul: shapes {a.shape}{op} @ {b.shape} -> {out.shape} disagree")
