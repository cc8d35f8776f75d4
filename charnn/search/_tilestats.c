/* The search's per-row-block statistics in one pass over the rows, without Python in between.

   charnn/search/native.py loads this file's shared library with ctypes (which lets go of the
   GIL during the call, so two threads use two cores) and documents the call. It is built by
   `pip install` (setup.py, -O3, no -march: a build copied to another CPU still runs); where it
   cannot be built, the search uses its torch path instead, which computes the same numbers
   (tests/search/test_native.py).

   For rows r (rows[i], or first + i) of x (float16 bits or float32, `stride` elements apart,
   units contiguous), in blocks of RB rows (converted to float32 in L2, beside the counters):
     v = x[r, u] - shift[u]                                   (float32)
     mom[k, u] += T[i, k] * v                                  (float32 product, float64 sum)
     sq[u]     += v * v                                        (ditto)
     hist[u * GB + off + bin] += 1, bin = (int) clamp(v * scale[u] + beta[u], 0, B - 1)
   with off = offs[i] or off0. Every float op is rounded on its own (-ffp-contract=off: no fused
   multiply-add), in the same order as the torch path, so both bin every value alike and a
   histogram cached by one path matches a search made by the other. NaN bins to 0 (the caller
   checks sq for non-finite values).

   Three builds of the loop, chosen when called: AVX-512 intrinsics (conversion and binning 16
   units at a time) where the CPU has it, else the portable C loop compiled for AVX2 and F16C
   (vectorised by the compiler), else the same loop for any CPU. All bin NR = 32 rows before
   adding their counts, which halved the time of counting row by row. `loop` forces one (tests). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX512_BUILD 1
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#endif

#define RB 256
#define NR 32

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
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in float32 */
        float f = (float)man * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    bits = sign | (exp == 31 ? 0x7f800000u : (exp + 112u) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline __attribute__((always_inline)) int32_t bin_of(float v, float scale, float beta, float top) {
    v = v * scale;
    v = v + beta;
    v = v > 0.0f ? v : 0.0f; /* NaN -> 0 */
    v = v < top ? v : top;
    return (int32_t)v;
}

/* one row of buf: dst[u] = x[r, u] - shift[u] for u in [u0, U) (the AVX-512 loop does the units before u0) */
static inline __attribute__((always_inline)) void load_row(const void *x, int is_f16, int64_t stride,
                                                             int64_t r, int32_t u0, int32_t U,
                                                             const float *shift, float *dst, int hw) {
    if (is_f16) {
        const uint16_t *src = (const uint16_t *)x + r * stride;
        for (int32_t u = u0; u < U; u++) dst[u] = half_to_float(src[u], hw) - shift[u];
    } else {
        const float *src = (const float *)x + r * stride;
        for (int32_t u = u0; u < U; u++) dst[u] = src[u] - shift[u];
    }
}

/* mom and sq of a converted block (plain C: vectorised by the compiler for each build) */
static inline __attribute__((always_inline)) void sum_block(const float *buf, int64_t nb, int32_t U,
                                                            const float *T, int32_t K, double *mom,
                                                            double *sq) {
    for (int64_t i = 0; i < nb; i++) {
        const float *row = buf + i * U;
        for (int32_t k = 0; mom && k < K; k++) {
            const float t = T[i * K + k];
            if (t == 0.0f) continue;
            double *mk = mom + (int64_t)k * U;
            for (int32_t u = 0; u < U; u++) mk[u] += t * row[u];
        }
        for (int32_t u = 0; sq && u < U; u++) sq[u] += row[u] * row[u];
    }
}

/* counts of units [u0, u1) (at most 16) of a converted block: NR rows binned, then counted */
static inline __attribute__((always_inline)) void count_units(const float *buf, int64_t nb, int32_t U,
                                                              int32_t u0, int32_t u1, const float *scale,
                                                              const float *beta, float top,
                                                              const int32_t *offs, int32_t off0, int64_t GB,
                                                              int32_t *hist) {
    int32_t idx[NR * 16];
    const int32_t w = u1 - u0;
    for (int64_t i0 = 0; i0 < nb; i0 += NR) {
        int64_t nr = nb - i0 < NR ? nb - i0 : NR;
        for (int64_t i = 0; i < nr; i++) {
            const int32_t off = offs ? offs[i0 + i] : off0;
            const float *row = buf + (i0 + i) * U + u0;
            for (int32_t j = 0; j < w; j++)
                idx[i * 16 + j] = (u0 + j) * (int32_t)GB + off + bin_of(row[j], scale[u0 + j], beta[u0 + j], top);
        }
        for (int64_t i = 0; i < nr; i++)
            for (int32_t j = 0; j < w; j++) hist[idx[i * 16 + j]]++;
    }
}

/* the whole loop in portable C, built twice below: for any CPU, and for AVX2 (auto-vectorised) */
static inline __attribute__((always_inline)) void tile_generic(
        const void *x, int32_t is_f16, int64_t stride, const int64_t *rows, int64_t first, int64_t m, int32_t U,
        const float *shift, const float *scale, const float *beta, int32_t B, const int32_t *offs, int32_t off0,
        int64_t GB, const float *T, int32_t K, int32_t *hist, double *mom, double *sq, float *buf, int hw) {
    for (int64_t a = 0; a < m; a += RB) {
        int64_t nb = m - a < RB ? m - a : RB;
        for (int64_t i = 0; i < nb; i++)
            load_row(x, is_f16, stride, rows ? rows[a + i] : first + a + i, 0, U, shift, buf + i * U, hw);
        sum_block(buf, nb, U, T ? T + a * K : NULL, K, mom, sq);
        for (int32_t u0 = 0; hist && u0 < U; u0 += 16)  /* 16 units at a time: their counters stay in L1 */
            count_units(buf, nb, U, u0, u0 + 16 < U ? u0 + 16 : U, scale, beta, (float)(B - 1),
                        offs ? offs + a : NULL, off0, GB, hist);
    }
}

/* the units past the last whole vector of the AVX-512 loop (kept out of line: inlined, its stack
   array made the vector loop 15% slower) */
__attribute__((noinline)) static void count_tail(const float *buf, int64_t nb, int32_t U, int32_t u0,
                                                 const float *scale, const float *beta, float top,
                                                 const int32_t *offs, int32_t off0, int64_t GB, int32_t *hist) {
    count_units(buf, nb, U, u0, U, scale, beta, top, offs, off0, GB, hist);
}

#define TILE_ARGS const void *x, int32_t is_f16, int64_t stride, const int64_t *rows, int64_t first, int64_t m, \
    int32_t U, const float *shift, const float *scale, const float *beta, int32_t B, const int32_t *offs,    \
    int32_t off0, int64_t GB, const float *T, int32_t K, int32_t *hist, double *mom, double *sq, float *buf
#define TILE_CALL x, is_f16, stride, rows, first, m, U, shift, scale, beta, B, offs, off0, GB, T, K, hist, mom, sq, buf

static void tile_portable(TILE_ARGS) { tile_generic(TILE_CALL, HW_HALF_ANYWHERE); }

#ifdef HAVE_AVX512_BUILD
__attribute__((target("avx2,f16c"))) static void tile_avx2(TILE_ARGS) { tile_generic(TILE_CALL, 1); }
#endif

#ifdef HAVE_AVX512_BUILD
AVX512 static void tile_avx512(TILE_ARGS) {
    const float top = (float)(B - 1);
    const int32_t U16 = U - U % 16; /* units in whole vectors; the rest go the portable way */
    for (int64_t a = 0; a < m; a += RB) {
        int64_t nb = m - a < RB ? m - a : RB;
        for (int64_t i = 0; i < nb; i++) {
            int64_t r = rows ? rows[a + i] : first + a + i;
            float *dst = buf + i * U;
            if (is_f16) {
                const uint16_t *src = (const uint16_t *)x + r * stride;
                for (int32_t u = 0; u < U16; u += 16) {
                    __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + u)));
                    _mm512_storeu_ps(dst + u, _mm512_sub_ps(v, _mm512_loadu_ps(shift + u)));
                }
                load_row(x, is_f16, stride, r, U16, U, shift, dst, 1);
            } else {
                load_row(x, is_f16, stride, r, 0, U, shift, dst, 1);
            }
        }
        sum_block(buf, nb, U, T ? T + a * K : NULL, K, mom, sq);
        if (!hist) continue;
        const int32_t *o = offs ? offs + a : NULL;
        const __m512 zero = _mm512_setzero_ps(), hi = _mm512_set1_ps(top);
        for (int32_t u0 = 0; u0 < U16; u0 += 16) {
            const __m512 sc = _mm512_loadu_ps(scale + u0), be = _mm512_loadu_ps(beta + u0);
            const __m512i base = _mm512_mullo_epi32(
                _mm512_add_epi32(_mm512_set1_epi32(u0), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)),
                _mm512_set1_epi32((int32_t)GB));
            int32_t idx[NR * 16] __attribute__((aligned(64)));
            for (int64_t i0 = 0; i0 < nb; i0 += NR) {
                int64_t nr = nb - i0 < NR ? nb - i0 : NR;
                for (int64_t i = i0; i < i0 + nr; i++) {
                    __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(buf + i * U + u0), sc), be);
                    v = _mm512_min_ps(_mm512_max_ps(v, zero), hi); /* max(NaN, 0) is 0 */
                    __m512i at = _mm512_add_epi32(base, _mm512_cvttps_epi32(v));
                    _mm512_store_si512((__m512i *)(idx + (i - i0) * 16),
                                       _mm512_add_epi32(at, _mm512_set1_epi32(o ? o[i] : off0)));
                }
                for (int j = 0; j < nr * 16; j++) hist[idx[j]]++;
            }
        }
        if (U16 < U) count_tail(buf, nb, U, U16, scale, beta, top, o, off0, GB, hist);
    }
}
#endif

/* loop: 0 the fastest this CPU runs, 1 portable, 2 AVX2, 3 AVX-512 (a loop the CPU lacks: the next best) */
void charnn_tile_stats(const void *x, int32_t is_f16, int64_t stride, const int64_t *rows, int64_t first,
                       int64_t m, int32_t U, const float *shift, const float *scale, const float *beta,
                       int32_t B, const int32_t *offs, int32_t off0, int64_t GB, const float *T, int32_t K,
                       int32_t *hist, double *mom, double *sq, float *buf /* RB * U floats */, int32_t loop) {
#ifdef HAVE_AVX512_BUILD
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    if (avx512 && (loop == 0 || loop == 3)) {
        tile_avx512(TILE_CALL);
        return;
    }
    if (avx2 && loop != 1) {
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
