/* Half-lives from decay gates in one pass per stream, tallied as they are found
   (charnn/attribution/memory.py).

   memory.py loads this file's shared library with ctypes; where it was not built, the same search
   runs as torch ops (a few passes over the gates for the short half-lives, a binary search for
   the rest) and the tally as a bincount.

   f: (S, n, U) float32 gates of S streams of n steps, U units side by side. Per unit,
   a[m] = -log f summed over the first m steps (double, a[0] = 0) never decreases, so the largest m
   with a[m] < a[t + 1] - ln 2 (the product of the gates from m to t has fallen below 1/2) is found
   by comparing a[t + 1 - d] with that bound for d = 1..SHORT, without a branch (most half-lives
   are a few steps, and these comparisons run as vector instructions across the units); where all
   SHORT hold, by a pointer per unit that only moves forward as t grows. The half-life at t is
   t + 1 - m, or, where no such m exists, t + 1, censored when real_start (the first step is the
   stream's).

   The gates are read once: the log, the search and the tally happen in the same pass, so no
   (S, n, U) array of logs, half-lives or flags is written unless asked for. Rows t < skip of each
   stream are context only (the earlier rows of a stream read in slices): they move the pointers
   but are neither tallied nor written.

   Outputs (each may be NULL):
     k, censored: (S, n - skip, U) int32 half-lives and uint8 flags;
     hist: (cap + 1, U) int64 counts of min(half-life, cap) (half-life-major: the few short
     half-lives of the units are neighbours in memory), n_censored: (U,) int64, gate_sum: (U,)
     double, each added to.
   a: scratch of (n + 1) * U doubles, j: scratch of 2 * U int64. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_LOOPS 1
#endif

#define SHORT 8
static const double LN2 = 0.69314718055994530942;

/* -log of a gate in double, within 1e-10 relative: g = m 2^e with m in [sqrt(1/2), sqrt(2)),
   log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, six terms of its series. Written without
   branches (a gate below 1e-30, or negative, counts as 1e-30, by the order of its bits) so that
   the loop over the units vectorises, which the C library's logf does not. */
static inline __attribute__((always_inline)) double neg_log(float g) {
    int32_t bits;
    memcpy(&bits, &g, sizeof bits);
    bits = bits > 0x0da24260 ? bits : 0x0da24260; /* the bits of 1e-30f */
    int32_t e = ((bits >> 23) & 0xff) - 127, mb = (bits & 0x7fffff) | 0x3f800000;
    float m;
    memcpy(&m, &mb, sizeof m);
    const int32_t big = m > 1.41421356f;
    const double md = (double)m * (1.0 - 0.5 * (double)big);
    e += big;
    const double s = (md - 1.0) / (md + 1.0), s2 = s * s;
    const double p = s * (2.0 + s2 * (2.0 / 3 + s2 * (2.0 / 5 + s2 * (2.0 / 7 + s2 * (2.0 / 9 + s2 * (2.0 / 11))))));
    return -((double)e * LN2 + p);
}

#define PASS_ARGS                                                                                                 \
    const float *restrict f, int64_t S, int64_t n, int64_t U, int64_t skip, int32_t real_start, int64_t cap,      \
        int32_t *restrict k, uint8_t *restrict censored, int64_t *restrict hist, int64_t *restrict n_censored,    \
        double *restrict gate_sum, double *restrict a, int64_t *restrict j
#define PASS_CALL f, S, n, U, skip, real_start, cap, k, censored, hist, n_censored, gate_sum, a, j

/* a[t + 1] = a[t] - log f_t, and cnt[u]: of d = 1..SHORT, how many have a[t + 1 - d] >= a[t + 1] - ln 2
   (the product of the last d gates has not fallen below 1/2); t >= SHORT */
static inline __attribute__((always_inline)) void step(const float *restrict row, double *restrict now,
                                                       const double *restrict prev, int64_t *restrict cnt,
                                                       int64_t U, int64_t t) {
    for (int64_t u = 0; u < U; u++) now[u] = prev[u] + neg_log(row[u]);
    if (t < SHORT) {
        for (int64_t u = 0; u < U; u++) cnt[u] = SHORT;
        return;
    }
    const double *b1 = now - U, *b2 = now - 2 * U, *b3 = now - 3 * U, *b4 = now - 4 * U, *b5 = now - 5 * U,
                 *b6 = now - 6 * U, *b7 = now - 7 * U, *b8 = now - 8 * U;
    for (int64_t u = 0; u < U; u++) {
        const double q = now[u] - LN2;
        cnt[u] = (int64_t)(b1[u] >= q) + (b2[u] >= q) + (b3[u] >= q) + (b4[u] >= q) + (b5[u] >= q) + (b6[u] >= q) +
                 (b7[u] >= q) + (b8[u] >= q);
    }
}

static inline __attribute__((always_inline)) void pass(PASS_ARGS) {
    const int64_t kept = n - skip;
    int64_t *restrict cnt = j + U;
    for (int64_t s = 0; s < S; s++) {
        const float *x = f + s * n * U;
        for (int64_t u = 0; u < U; u++) {
            a[u] = 0.0;
            j[u] = 0;
        }
        for (int64_t t = 0; t < n; t++) {
            const float *row = x + t * U;
            double *now = a + (t + 1) * U;
            step(row, now, a + t * U, cnt, U, t);
            const int tally = t >= skip;
            int32_t *kt = k && tally ? k + (s * kept + t - skip) * U : NULL;
            uint8_t *ct = censored && tally ? censored + (s * kept + t - skip) * U : NULL;
            for (int64_t u = 0; u < U; u++) {
                int64_t half;
                int cens = 0;
                if (cnt[u] < SHORT) {
                    half = cnt[u] + 1;
                    j[u] = t - cnt[u];
                } else {
                    const double q = now[u] - LN2;
                    int64_t m = j[u];
                    while (m < t && a[(m + 1) * U + u] < q) m++;
                    j[u] = m;
                    const int fell = a[m * U + u] < q;
                    half = fell ? t + 1 - m : t + 1;
                    cens = !fell && real_start;
                }
                if (kt) kt[u] = (int32_t)half;
                if (ct) ct[u] = (uint8_t)cens;
                if (hist && tally) {
                    hist[(half < cap ? half : cap) * U + u]++;
                    n_censored[u] += cens;
                    gate_sum[u] += (double)row[u];
                }
            }
        }
    }
}

static void pass_portable(PASS_ARGS) { pass(PASS_CALL); }

#ifdef HAVE_X86_LOOPS
__attribute__((target("avx2"))) static void pass_avx2(PASS_ARGS) { pass(PASS_CALL); }
#endif

int32_t charnn_half_life_pass(PASS_ARGS) {
#ifdef HAVE_X86_LOOPS
    if (__builtin_cpu_supports("avx2")) {
        pass_avx2(PASS_CALL);
        return 0;
    }
#endif
    pass_portable(PASS_CALL);
    return 0;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_halflife", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__halflife(void) { return PyModule_Create(&module); }
