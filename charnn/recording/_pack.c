/* The recorder's copy of a window of states into a state file, with each unit's statistics.

   charnn/recording/pack.py loads this file's shared library with ctypes and documents the call;
   without it (no C compiler), the recorder copies with torch ops (the same values, slower).

   src: a window of float32 states, time-major as the stepper returns them: value (t, b, u) at
   src[t * s_t + b * s_b + u], t < W, u < H. dst: unit-major, as a state file holds them: value
   (b, u, t) at dst[b * d_b + u * d_u + t] (float16 or float32; NULL: statistics only). For
   streams b0 <= b < b1 it writes every value (float16 rounded to nearest even) and adds, per unit,
   the minimum and maximum, and the sums of the values and of their squares (float64), of the
   values as stored (float16 values: after rounding).

   Two builds of the loop, chosen when called: 16 x 16 blocks transposed in AVX-512 registers
   where the CPU has it, else plain C (for any CPU). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include "../_half.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_LOOPS 1
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,f16c")))
#endif

#define PACK_ARGS const float *src, int64_t W, int64_t s_t, int64_t s_b, int64_t b0, int64_t b1, int32_t H, \
    void *dst, int32_t is_f16, int64_t d_b, int64_t d_u, float *lo, float *hi, double *sum, double *sq
#define PACK_CALL src, W, s_t, s_b, b0, b1, H, dst, is_f16, d_b, d_u, lo, hi, sum, sq

/* float32 -> float16 bits, rounded to nearest even as torch and numpy round (numpy's
   npy_floatbits_to_halfbits, without its floating-point exception flags) */
static inline uint16_t float_to_half(float f) {
    uint32_t f_bits;
    memcpy(&f_bits, &f, sizeof f_bits);
    const uint16_t h_sgn = (uint16_t)((f_bits & 0x80000000u) >> 16);
    uint32_t f_exp = f_bits & 0x7f800000u, f_sig = f_bits & 0x007fffffu;
    if (f_exp >= 0x47800000u) { /* overflow to inf, or NaN (kept a NaN) */
        if (f_exp == 0x7f800000u && f_sig) {
            uint16_t nan = (uint16_t)(0x7c00u + (f_sig >> 13));
            return (uint16_t)(h_sgn + (nan == 0x7c00u ? nan + 1 : nan));
        }
        return (uint16_t)(h_sgn + 0x7c00u);
    }
    if (f_exp <= 0x38000000u) { /* a subnormal float16, or zero */
        if (f_exp < 0x33000000u) return h_sgn;
        f_exp >>= 23;
        f_sig = 0x00800000u + f_sig;
        f_sig >>= (113 - f_exp);
        if (((f_sig & 0x00003fffu) != 0x00001000u) || (f_bits & 0x000007ffu)) f_sig += 0x00001000u;
        return (uint16_t)(h_sgn + (uint16_t)(f_sig >> 13)); /* a carry into the exponent is right */
    }
    const uint16_t h_exp = (uint16_t)((f_exp - 0x38000000u) >> 13);
    if ((f_sig & 0x00003fffu) != 0x00001000u) f_sig += 0x00001000u;
    return (uint16_t)(h_sgn + (uint16_t)((f_sig >> 13) + h_exp)); /* a carry may reach inf: right */
}

#define TB 16

/* plain C: 16 x 16 blocks through a small buffer */
static void pack_portable(PACK_ARGS) {
    float tile[TB][TB];
    for (int64_t t0 = 0; t0 < W; t0 += TB) {
        const int64_t nt = W - t0 < TB ? W - t0 : TB;
        for (int64_t b = b0; b < b1; b++) {
            for (int32_t u0 = 0; u0 < H; u0 += TB) {
                const int32_t nu = H - u0 < TB ? H - u0 : TB;
                for (int64_t i = 0; i < nt; i++) {
                    const float *row = src + (t0 + i) * s_t + b * s_b + u0;
                    for (int32_t j = 0; j < nu; j++) {
                        float v = row[j];
                        if (is_f16 && dst) v = half_bits_to_float(float_to_half(v));
                        tile[j][i] = v;
                    }
                }
                for (int32_t j = 0; j < nu; j++) {
                    const int32_t u = u0 + j;
                    double s = 0, q = 0;
                    for (int64_t i = 0; i < nt; i++) {
                        const float v = tile[j][i];
                        lo[u] = v < lo[u] ? v : lo[u];
                        hi[u] = v > hi[u] ? v : hi[u];
                        s += v;
                        q += (double)(v * v);
                    }
                    sum[u] += s;
                    sq[u] += q;
                    if (!dst) continue;
                    if (is_f16) {
                        uint16_t *out = (uint16_t *)dst + b * d_b + (int64_t)u * d_u + t0;
                        for (int64_t i = 0; i < nt; i++) out[i] = float_to_half(tile[j][i]);
                    } else {
                        float *out = (float *)dst + b * d_b + (int64_t)u * d_u + t0;
                        for (int64_t i = 0; i < nt; i++) out[i] = tile[j][i];
                    }
                }
            }
        }
    }
}

#ifdef HAVE_X86_LOOPS
AVX512 static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

#define ROUND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* the whole 16 x 16 blocks in registers: stats over the rows (16 units a vector), then the block
   transposed, 16 rows of a unit per store; the rest (W % 16 steps, H % 16 units) the plain way */
AVX512 static void pack_avx512(PACK_ARGS) {
    const int64_t W16 = W - W % TB;
    const int32_t H16 = H - H % TB;
    for (int64_t t0 = 0; t0 < W16; t0 += TB) {
        for (int64_t b = b0; b < b1; b++) {
            for (int32_t u0 = 0; u0 < H16; u0 += TB) {
                __m512 r[TB], vlo = _mm512_loadu_ps(lo + u0), vhi = _mm512_loadu_ps(hi + u0);
                __m512 s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps();
                for (int i = 0; i < TB; i++) {
                    r[i] = _mm512_loadu_ps(src + (t0 + i) * s_t + b * s_b + u0);
                    if (is_f16 && dst) r[i] = _mm512_cvtph_ps(_mm512_cvtps_ph(r[i], ROUND));
                    vlo = _mm512_min_ps(vlo, r[i]);
                    vhi = _mm512_max_ps(vhi, r[i]);
                    s1 = _mm512_add_ps(s1, r[i]); /* 16 rows in float32, then into float64 */
                    s2 = _mm512_add_ps(s2, _mm512_mul_ps(r[i], r[i]));
                }
                _mm512_storeu_ps(lo + u0, vlo);
                _mm512_storeu_ps(hi + u0, vhi);
                _mm512_storeu_pd(sum + u0, _mm512_add_pd(_mm512_loadu_pd(sum + u0),
                                                         _mm512_cvtps_pd(_mm512_castps512_ps256(s1))));
                _mm512_storeu_pd(sum + u0 + 8, _mm512_add_pd(_mm512_loadu_pd(sum + u0 + 8),
                                                             _mm512_cvtps_pd(_mm512_extractf32x8_ps(s1, 1))));
                _mm512_storeu_pd(sq + u0, _mm512_add_pd(_mm512_loadu_pd(sq + u0),
                                                        _mm512_cvtps_pd(_mm512_castps512_ps256(s2))));
                _mm512_storeu_pd(sq + u0 + 8, _mm512_add_pd(_mm512_loadu_pd(sq + u0 + 8),
                                                            _mm512_cvtps_pd(_mm512_extractf32x8_ps(s2, 1))));
                if (!dst) continue;
                transpose16(r);
                for (int j = 0; j < TB; j++) {
                    const int64_t at = b * d_b + (int64_t)(u0 + j) * d_u + t0;
                    if (is_f16)
                        _mm256_storeu_si256((__m256i *)((uint16_t *)dst + at), _mm512_cvtps_ph(r[j], ROUND));
                    else
                        _mm512_storeu_ps((float *)dst + at, r[j]);
                }
            }
        }
    }
    if (H16 < H) { /* the last units, every step */
        char *d = dst ? (char *)dst + (int64_t)H16 * d_u * (is_f16 ? 2 : 4) : NULL;
        pack_portable(src + H16, W, s_t, s_b, b0, b1, H - H16, d, is_f16, d_b, d_u, lo + H16, hi + H16,
                      sum + H16, sq + H16);
    }
    if (W16 < W) { /* the last steps, the whole units */
        char *d = dst ? (char *)dst + W16 * (is_f16 ? 2 : 4) : NULL;
        pack_portable(src + W16 * s_t, W - W16, s_t, s_b, b0, b1, H16, d, is_f16, d_b, d_u, lo, hi, sum, sq);
    }
}
#endif

/* loop: 0 the fastest this CPU runs, 1 portable */
void charnn_pack(PACK_ARGS, int32_t loop) {
#ifdef HAVE_X86_LOOPS
    if (loop == 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c")) {
        pack_avx512(PACK_CALL);
        return;
    }
#endif
    (void)loop;
    pack_portable(PACK_CALL);
}

/* Each position's k likeliest next characters, for the recorder's predictions (charnn/recording/pack.py).
   logp: (n, W, V) log-probabilities, rows contiguous; for stream i < n and step j < W it writes the
   k largest of row (i, j), largest first (ties: the lower id first), as ids (int32) and
   probabilities exp(logp) (float32) at ids/p + i * d_i + j * k. torch's topk does this in 7.6 ms
   for 128 x 64 rows of 90 here, this loop in about 0.5. */
void charnn_topk(const float *logp, int64_t n, int64_t W, int64_t V, int32_t k, int32_t *ids, float *p, int64_t d_i) {
    float best[64];
    int32_t best_id[64];
    if (k > 64) k = 64;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < W; j++) {
            const float *row = logp + (i * W + j) * V;
            int32_t m = 0; /* entries in best, sorted descending */
            for (int32_t v = 0; v < V; v++) {
                const float x = row[v];
                if (m == k && !(x > best[k - 1])) continue;
                int32_t at = m < k ? m++ : k - 1;
                while (at > 0 && x > best[at - 1]) { best[at] = best[at - 1]; best_id[at] = best_id[at - 1]; at--; }
                best[at] = x;
                best_id[at] = v;
            }
            int32_t *out_id = ids + i * d_i + j * k;
            float *out_p = p + i * d_i + j * k;
            for (int32_t r = 0; r < k; r++) {
                out_id[r] = r < m ? best_id[r] : 0;
                out_p[r] = r < m ? expf(best[r]) : 0.0f;
            }
        }
    }
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pack",
                                    "charnn_pack and charnn_topk, loaded with ctypes by charnn.recording.pack", -1, NULL};

PyMODINIT_FUNC PyInit__pack(void) { return PyModule_Create(&module); }
