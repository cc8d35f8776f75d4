/* The search's per-row-block statistics in one pass over the rows, unit by unit, without Python
   in between.

   charnn/search/native.py loads this file's shared library with ctypes (which lets go of the
   GIL during the call, so two threads use two cores) and documents the call. It is built by
   `pip install` (setup.py, -O3, no -march: a build copied to another CPU still runs); where it
   cannot be built, the search uses its torch path instead, which computes the same numbers
   (tests/search/test_native.py).

   The data is unit-major, as a recording's Parquet pages hold it: unit u of row r is the element
       x[(r / L) * gs + u * us + r % L]      (float16 bits or float32)
   that is, groups of L rows (row groups), each a block of units whose rows are contiguous. For
   rows r (rows[i], ascending, or first + i), a block of up to RB rows at a time, one unit at a time
   (its rows are converted in L1 and its counters stay there while they are binned; rows that come
   in runs, as the characters a target marks usually do, are converted run by run, scattered rows
   picked from their converted span):
     v = x[r, u] - shift[u]                                   (float32)
     mom[k, u] += T[k, i] * v                                  (float32 product, float64 sum)
     sq[u]     += v * v                                        (ditto)
     hist[u * GB + off + bin] += 1, bin = (int) clamp(v * scale[u] + beta[u], 0, B - 1)
   with off = offs[i] or off0. Every float op is rounded on its own (-ffp-contract=off: no fused
   multiply-add), in the same order as the torch path, so both bin every value alike and a
   histogram cached by one path matches a search made by the other. NaN bins to 0 (the caller
   checks sq for non-finite values).

   One loop in portable C, built three times and chosen when called: for AVX-512, for AVX2 with
   F16C (both vectorised by the compiler, converting float16 in hardware), and for any CPU.
   `loop` forces one (tests); charnn_loop_supported says which this CPU runs. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "../_half.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_LOOPS 1
#endif

#define RB 2048 /* rows of one unit converted at a time: their float32 values stay in L1 */
#define NC 4    /* copies of a unit's counters (see count) */
#define SUB 8192 /* rows of a run whose blocks are found before its units are read */
#define MIN_RUN 8 /* consecutive rows a block's runs hold on average, for it to be read run by run */

/* float16 bits -> float32, exactly. hw: through the compiler's _Float16, which is one instruction
   per 8 or 16 values with F16C (or on ARM) but a library call per value on other x86-64 CPUs;
   else by hand. */
#if defined(__FLT16_MAX__) && !defined(__x86_64__)
#define HW_HALF_ANYWHERE 1 /* _Float16 is native on this architecture */
#else
#define HW_HALF_ANYWHERE 0
#endif

static inline __attribute__((always_inline)) float half_to_float(uint16_t h, int hw) {
#ifdef __FLT16_MAX__
    if (hw) {
        _Float16 f;
        memcpy(&f, &h, sizeof f);
        return (float)f;
    }
#endif
    (void)hw;
    return half_bits_to_float(h);
}

static inline __attribute__((always_inline)) int32_t bin_of(float v, float scale, float beta, float top) {
    v = v * scale;
    v = v + beta;
    v = v > 0.0f ? v : 0.0f; /* NaN -> 0 */
    v = v < top ? v : top;
    return (int32_t)v;
}

#ifdef HAVE_X86_LOOPS
#include <immintrin.h>
/* float16 -> float32 minus shift, 8 or 16 values per instruction (the compiler does not vectorise
   _Float16 conversions); called only from the loops built for these instruction sets */
__attribute__((target("avx2,f16c"))) static void load_f16_avx2(const uint16_t *src, int64_t n, float shift,
                                                                float *dst) {
    const __m256 s = _mm256_set1_ps(shift);
    int64_t t = 0;
    for (; t + 8 <= n; t += 8)
        _mm256_storeu_ps(dst + t, _mm256_sub_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + t))), s));
    for (; t < n; t++) dst[t] = half_to_float(src[t], 1) - shift;
}

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,f16c"))) static void load_f16_avx512(
        const uint16_t *src, int64_t n, float shift, float *dst) {
    const __m512 s = _mm512_set1_ps(shift);
    int64_t t = 0;
    for (; t + 16 <= n; t += 16)
        _mm512_storeu_ps(dst + t, _mm512_sub_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + t))), s));
    for (; t < n; t++) dst[t] = half_to_float(src[t], 1) - shift;
}
#endif

/* dst[t] = x[at + t] - shift for t < n: one unit's contiguous rows. vec: 0 portable, 2 AVX2, 3 AVX-512 */
static inline __attribute__((always_inline)) void load_span(const void *x, int is_f16, int64_t at, int64_t n,
                                                              float shift, float *dst, int vec) {
    if (is_f16) {
        const uint16_t *src = (const uint16_t *)x + at;
#ifdef HAVE_X86_LOOPS
        if (vec == 3) return load_f16_avx512(src, n, shift, dst);
        if (vec == 2) return load_f16_avx2(src, n, shift, dst);
#endif
        for (int64_t t = 0; t < n; t++) dst[t] = half_to_float(src[t], HW_HALF_ANYWHERE) - shift;
    } else {
        const float *src = (const float *)x + at;
        for (int64_t t = 0; t < n; t++) dst[t] = src[t] - shift;
    }
}

/* sum of a[t] * b[t] (float32 products) in float64, in eight lanes so that it vectorises */
static inline __attribute__((always_inline)) double dot(const float *a, const float *b, int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t t = 0;
    for (; t + 8 <= n; t += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)(a[t + j] * b[t + j]);
    for (; t < n; t++) acc[0] += (double)(a[t] * b[t]);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* one unit's counts: every bin index first (vectorised), then the increments, spread over NC
   copies of the counters (consecutive rows of a unit often fall in the same bin, and an increment
   that waits for the one before it is several times slower) */
static inline __attribute__((always_inline)) void count(const float *v, int64_t n, float scale, float beta,
                                                          float top, const int32_t *offs, int32_t off0,
                                                          int32_t *counters, int64_t GB, int32_t *idx) {
    if (offs)
        for (int64_t t = 0; t < n; t++) idx[t] = bin_of(v[t], scale, beta, top) + offs[t];
    else
        for (int64_t t = 0; t < n; t++) idx[t] = bin_of(v[t], scale, beta, top) + off0;
    int64_t t = 0;
    for (; t + NC <= n; t += NC)
        for (int c = 0; c < NC; c++) counters[c * GB + idx[t + c]]++;
    for (; t < n; t++) counters[idx[t]]++;
}

/* hist[j] += the NC copies' counts, which are zeroed */
static inline __attribute__((always_inline)) void fold(int32_t *hist, int32_t *counters, int64_t GB) {
    for (int64_t j = 0; j < GB; j++) {
        int32_t s = 0;
        for (int c = 0; c < NC; c++) s += counters[c * GB + j];
        hist[j] += s;
    }
    memset(counters, 0, sizeof(int32_t) * NC * GB);
}

#define TILE_ARGS const void *x, int32_t is_f16, int64_t gs, int64_t us, int64_t L, const int64_t *rows,      \
    int64_t first, int64_t m, int32_t U, const float *shift, const float *scale, const float *beta, int32_t B, \
    const int32_t *offs, int32_t off0, int64_t GB, const float *T, int64_t ldt, int32_t K, int32_t *hist,       \
    double *mom, double *sq, float *buf
#define TILE_CALL x, is_f16, gs, us, L, rows, first, m, U, shift, scale, beta, B, offs, off0, GB, T, ldt, K, hist, \
    mom, sq, buf

/* The blocks of a run of rows [i0, i1), found once for every unit: up to RB rows spanning fewer
   than RB rows. Per block, five numbers: its first row (from i0), its rows, its span, and where its
   runs of consecutive rows start in seg and how many there are (none: the rows are too scattered
   for runs, MIN_RUN rows a run on average at least, and are picked from the converted span, their
   places in it in at). seg: (place in the span, length) per run. Returns the number of blocks. */
static inline __attribute__((always_inline)) int32_t find_blocks(const int64_t *rows, int64_t first, int64_t i0,
                                                                   int64_t i1, int32_t *at, int32_t *blk,
                                                                   int32_t *seg) {
    int32_t nblk = 0, nseg = 0;
    for (int64_t i = i0; i < i1; nblk++) {
        const int64_t r0 = rows ? rows[i] : first + i;
        int64_t nb = 1;
        int32_t *k5 = blk + 5 * nblk;
        k5[3] = nseg;
        k5[4] = 0;
        if (rows) {
            while (i + nb < i1 && nb < RB && rows[i + nb] - r0 < RB) nb++;
            int32_t runs = 0;
            for (int64_t t = 0; t < nb; t++) {
                at[i - i0 + t] = (int32_t)(rows[i + t] - r0);
                if (t == 0 || rows[i + t] != rows[i + t - 1] + 1) {
                    seg[2 * (nseg + runs)] = (int32_t)(rows[i + t] - r0);
                    seg[2 * (nseg + runs) + 1] = 0;
                    runs++;
                }
                seg[2 * (nseg + runs - 1) + 1]++;
            }
            if (runs * MIN_RUN <= nb) { /* worth converting run by run */
                k5[4] = runs;
                nseg += runs;
            }
        } else {
            nb = i1 - i < RB ? i1 - i : RB;
        }
        k5[0] = (int32_t)(i - i0);
        k5[1] = (int32_t)nb;
        k5[2] = (int32_t)(rows ? rows[i + nb - 1] - r0 + 1 : nb);
        i += nb;
    }
    return nblk;
}

static inline __attribute__((always_inline)) void tile_generic(TILE_ARGS, int vec) {
    const float top = (float)(B - 1);
    float *span = buf, *vals = buf + RB;
    int32_t *idx = (int32_t *)(buf + 2 * RB), *at = idx + RB, *blk = at + SUB, *seg = blk + 5 * SUB;
    int32_t *counters = seg + 2 * SUB; /* NC * GB, last: zero whenever no unit is being counted */
    for (int64_t i0 = 0; i0 < m;) {
        /* a run: up to SUB rows in one group, read unit after unit (in memory order, so reads stream) */
        const int64_t g = (rows ? rows[i0] : first + i0) / L, cap = m - i0 < SUB ? m - i0 : SUB;
        int64_t i1 = i0 + 1;
        if (rows)
            while (i1 - i0 < cap && rows[i1] / L == g) i1++;
        else
            i1 = i0 + (cap < (g + 1) * L - first - i0 ? cap : (g + 1) * L - first - i0);
        const int32_t nblk = find_blocks(rows, first, i0, i1, at, blk, seg);
        const int local = hist && (i1 - i0) * 2 >= NC * GB; /* worth zeroing and folding the copies */
        for (int32_t u = 0; u < U; u++) {
            const int64_t base = g * gs + (int64_t)u * us - g * L;
            for (int32_t b = 0; b < nblk; b++) {
                const int32_t *k5 = blk + 5 * b;
                const int64_t i = i0 + k5[0], nb = k5[1], r0 = rows ? rows[i] : first + i;
                const float *v = vals;
                if (!rows) {
                    load_span(x, is_f16, base + r0, nb, shift[u], span, vec);
                    v = span;
                } else if (k5[4]) { /* runs of consecutive rows: each converted straight into place */
                    const int32_t *sg = seg + 2 * k5[3];
                    for (int32_t s = 0, o = 0; s < k5[4]; o += sg[2 * s + 1], s++)
                        load_span(x, is_f16, base + r0 + sg[2 * s], sg[2 * s + 1], shift[u], vals + o, vec);
                } else { /* scattered rows: the span converted, then its rows picked */
                    load_span(x, is_f16, base + r0, k5[2], shift[u], span, vec);
                    const int32_t *a = at + k5[0];
                    for (int64_t t = 0; t < nb; t++) vals[t] = span[a[t]];
                }
                if (sq) sq[u] += dot(v, v, nb);
                for (int32_t k = 0; mom && k < K; k++)
                    mom[(int64_t)k * U + u] += dot(T + (int64_t)k * ldt + i, v, nb);
                if (hist)
                    count(v, nb, scale[u], beta[u], top, offs ? offs + i : NULL, off0,
                          local ? counters : hist + (int64_t)u * GB, local ? GB : 0, idx);
            }
            if (local) fold(hist + (int64_t)u * GB, counters, GB);
        }
        i0 = i1;
    }
}

static void tile_portable(TILE_ARGS) { tile_generic(TILE_CALL, 0); }

#ifdef HAVE_X86_LOOPS
__attribute__((target("avx2,f16c"))) static void tile_avx2(TILE_ARGS) { tile_generic(TILE_CALL, 2); }
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,f16c"))) static void tile_avx512(TILE_ARGS) {
    tile_generic(TILE_CALL, 3);
}
#endif

/* whether this CPU runs `loop` (1 portable, 2 AVX2, 3 AVX-512) */
int32_t charnn_loop_supported(int32_t loop) {
#ifdef HAVE_X86_LOOPS
    if (loop == 3)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (loop == 2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
#endif
    return loop == 1;
}

/* loop: 0 the fastest this CPU runs, 1 portable, 2 AVX2, 3 AVX-512 (one the CPU lacks: the next best).
   buf: 3 * RB + 8 * SUB + NC * GB floats of scratch, zeroed (the counter copies, last, are left zero). */
void charnn_tile_stats(TILE_ARGS, int32_t loop) {
#ifdef HAVE_X86_LOOPS
    if ((loop == 0 || loop == 3) && charnn_loop_supported(3)) {
        tile_avx512(TILE_CALL);
        return;
    }
    if (loop != 1 && charnn_loop_supported(2)) {
        tile_avx2(TILE_CALL);
        return;
    }
#endif
    (void)loop;
    tile_portable(TILE_CALL);
}

/* An (empty) module, so that the library is importable and found like any extension module. */
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tilestats",
                                    "charnn_tile_stats, loaded with ctypes by charnn.search.native", -1, NULL};

PyMODINIT_FUNC PyInit__tilestats(void) { return PyModule_Create(&module); }
