#ifndef CK_INTERNAL_H
#define CK_INTERNAL_H
// Helpers shared by the kernel files (not part of the public header).
#include <stdint.h>
#include <string.h>

// Up to this many activation rows (decode of a few streams), the AVX-512 variant takes one tile
// at a time, as the others do; above it, two tiles at once in 512-bit registers. Measured on an
// AMD Zen 5 (bench-engine, bench): with pairs for every size, one-stream decode was 15–45%
// slower than with the AVX2 tiles; one tile at a time it matches them, and four streams are
// 0–30% faster than with them. From eight streams and in prefill, the pairs were 20–60% faster
// than the AVX2 tiles.
#define CK_PACKED_FEW_ROWS 4

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml: get_scale_min_k4).
static inline void ck_scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// The sixteen 6-bit scales of a Q3_K block (stored in 12 bytes), unpacked to int8 with the
// +32 bias still applied (ggml: the kmask shuffle in dequantize_row_q3_K).
static inline void ck_q3_K_scales(const uint8_t *packed12, int8_t scales[16]) {
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    uint32_t aux[4];
    memcpy(aux, packed12, 12);
    const uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    memcpy(scales, aux, 16);
}
#if defined(__x86_64__)
// ck_dot_f32 on CPUs with AVX2 and FMA, without the check (dot.c).
float ck_dot_f32_avx2(const float *a, const float *b, int64_t n);
#endif
#endif
