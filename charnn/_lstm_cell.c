/* The elementwise half of one LSTM step, in one pass over the gates (charnn/cells/lstm.py).

   charnn/cells/lstm.py loads this file's shared library with ctypes and calls charnn_lstm_cell once
   per step of a stepped layer without hooks; where it was not built, or the CPU lacks AVX-512,
   the cell runs the same equations as torch ops (six kernels a step instead of one pass).

   Every array is B contiguous rows. gates: (B, 4H) pre-activations in the order i f o g (the
   stepper's reordered weights); c_prev: (B, H). Writes, per row,
       i, f, o = sigmoid(.), g = tanh(.), c = f * c_prev + i * g, h = o * tanh(c)
   c and h (B, H) always, and where those pointers are not NULL i f o side by side (B, 3H) and
   g (B, H). c may be c_prev's own memory.

   exp is a Cephes-style polynomial (1-2 ulp); sigmoid(x) = 1 / (1 + exp(-x)) and
   tanh(x) = 2 sigmoid(2x) - 1, so values differ from torch's by about 1e-7 (absolute). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f")))

AVX512 static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x); /* x - n ln2, ln2 in two parts */
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f))); /* e^r */
    return _mm512_scalef_ps(p, n); /* e^r * 2^n */
}

AVX512 static inline __m512 sigmoid16(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

AVX512 static inline __m512 tanh16(__m512 x) {
    const __m512 two = _mm512_set1_ps(2.0f);
    return _mm512_fmsub_ps(two, sigmoid16(_mm512_mul_ps(two, x)), _mm512_set1_ps(1.0f));
}

AVX512 static void cell_avx512(const float *gates, const float *c_prev, float *c, float *h, float *ifo, float *g,
                               int64_t B, int64_t H) {
    for (int64_t b = 0; b < B; b++) {
        const float *x = gates + b * 4 * H, *cp = c_prev + b * H;
        float *cb = c + b * H, *hb = h + b * H;
        float *ib = ifo ? ifo + b * 3 * H : NULL, *gb = g ? g + b * H : NULL;
        for (int64_t u = 0; u < H; u += 16) {
            const __mmask16 m = H - u >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (H - u)) - 1);
            const __m512 i = sigmoid16(_mm512_maskz_loadu_ps(m, x + u));
            const __m512 f = sigmoid16(_mm512_maskz_loadu_ps(m, x + H + u));
            const __m512 o = sigmoid16(_mm512_maskz_loadu_ps(m, x + 2 * H + u));
            const __m512 gg = tanh16(_mm512_maskz_loadu_ps(m, x + 3 * H + u));
            const __m512 cn = _mm512_fmadd_ps(f, _mm512_maskz_loadu_ps(m, cp + u), _mm512_mul_ps(i, gg));
            _mm512_mask_storeu_ps(cb + u, m, cn);
            _mm512_mask_storeu_ps(hb + u, m, _mm512_mul_ps(o, tanh16(cn)));
            if (ib) {
                _mm512_mask_storeu_ps(ib + u, m, i);
                _mm512_mask_storeu_ps(ib + H + u, m, f);
                _mm512_mask_storeu_ps(ib + 2 * H + u, m, o);
            }
            if (gb) _mm512_mask_storeu_ps(gb + u, m, gg);
        }
    }
}
#endif

/* 0: done; 1: this CPU has no AVX-512 (nothing written: the caller computes the step itself) */
int32_t charnn_lstm_cell(const float *gates, const float *c_prev, float *c, float *h, float *ifo, float *g, int64_t B,
                         int64_t H) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx512f")) {
        cell_avx512(gates, c_prev, c, h, ifo, g, B, H);
        return 0;
    }
#endif
    return 1;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lstm_cell",
                                    "charnn_lstm_cell, loaded with ctypes by charnn.stepper", -1, NULL};

PyMODINIT_FUNC PyInit__lstm_cell(void) { return PyModule_Create(&module); }
