/* Half-lives from decay gates in one pass per stream (charnn/attribution/memory.py).

   memory.py loads this file's shared library with ctypes; where it was not built, the same search
   runs as torch ops (a few passes over the gates for the short half-lives, a binary search for
   the rest).

   neglog: (S, n, U) float32, -log of each gate of S streams of n steps, U units side by side.
   Per unit, a[m] = neglog summed over the first m steps (double, a[0] = 0) never decreases, so the
   largest m with a[m] < a[t + 1] - ln 2 (the product of the gates from m to t has fallen below 1/2)
   only moves forward as t grows: one pointer per unit, advanced. Writes k = t + 1 - m, or, where
   no such m exists, k = t + 1 with censored = real_start. a: scratch of (n + 1) * U doubles,
   j: scratch of U int64. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

int32_t charnn_half_lives(const float *neglog, int64_t S, int64_t n, int64_t U, int32_t *k, uint8_t *censored,
                          double *a, int64_t *j, int32_t real_start) {
    const double ln2 = 0.69314718055994530942;
    for (int64_t s = 0; s < S; s++) {
        const float *x = neglog + s * n * U;
        int32_t *ks = k + s * n * U;
        uint8_t *cs = censored + s * n * U;
        for (int64_t u = 0; u < U; u++) {
            a[u] = 0.0;
            j[u] = 0;
        }
        for (int64_t t = 0; t < n; t++) {
            const double *prev = a + t * U;
            double *now = a + (t + 1) * U;
            for (int64_t u = 0; u < U; u++) {
                now[u] = prev[u] + (double)x[t * U + u];
                const double q = now[u] - ln2;
                int64_t m = j[u];
                while (m < t && a[(m + 1) * U + u] < q) m++;
                j[u] = m;
                if (a[m * U + u] < q) {
                    ks[t * U + u] = (int32_t)(t + 1 - m);
                    cs[t * U + u] = 0;
                } else {
                    ks[t * U + u] = (int32_t)(t + 1);
                    cs[t * U + u] = (uint8_t)real_start;
                }
            }
        }
    }
    return 0;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_halflife", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__halflife(void) { return PyModule_Create(&module); }
