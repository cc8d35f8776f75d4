/* float16 <-> float32 by hand, shared by the C kernels (charnn/recording/_pack.c writes states as
   float16, charnn/search/_tilestats.c reads them): the exact conversion, with no F16C or
   _Float16 needed. */
#ifndef CHARNN_HALF_H
#define CHARNN_HALF_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define CHARNN_INLINE static inline __attribute__((always_inline))
#else
#define CHARNN_INLINE static inline
#endif

/* float16 bits -> float32, exactly */
CHARNN_INLINE float half_bits_to_float(uint16_t h) {
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

#endif
