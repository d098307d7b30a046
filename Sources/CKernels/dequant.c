#include "CKernels.h"
#include "ck_internal.h"
#include <string.h>

// Block layouts and arithmetic follow ggml (ggml-quants.c, dequantize_row_*); the Swift
// reference twins in Runtime/Quant do the same operations in the same order, so both give
// identical floats.

#define QK4_0 32
#define QK_K 256

static inline float f16(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return ck_fp16_to_fp32(h); }

static void deq_q4_0(const uint8_t *b, float *y) {  // d, qs[16]
    const float d = f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 0x0F) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void deq_q4_1(const uint8_t *b, float *y) {  // d, m, qs[16]
    const float d = f16(b), m = f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 0x0F) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

static void deq_q5_0(const uint8_t *b, float *y) {  // d, qh[4], qs[16]
    const float d = f16(b);
    uint32_t qh;
    memcpy(&qh, b + 2, 4);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        const uint8_t xh0 = ((qh >> j) << 4) & 0x10;
        const uint8_t xh1 = (qh >> (j + 12)) & 0x10;
        y[j] = (float)(((qs[j] & 0x0F) | xh0) - 16) * d;
        y[j + 16] = (float)(((qs[j] >> 4) | xh1) - 16) * d;
    }
}

static void deq_q5_1(const uint8_t *b, float *y) {  // d, m, qh[4], qs[16]
    const float d = f16(b), m = f16(b + 2);
    uint32_t qh;
    memcpy(&qh, b + 4, 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        const uint8_t xh0 = ((qh >> j) << 4) & 0x10;
        const uint8_t xh1 = (qh >> (j + 12)) & 0x10;
        y[j] = (float)((qs[j] & 0x0F) | xh0) * d + m;
        y[j + 16] = (float)((qs[j] >> 4) | xh1) * d + m;
    }
}

static void deq_q8_0(const uint8_t *b, float *y) {  // d, qs[32]
    const float d = f16(b);
    const int8_t *qs = (const int8_t *)(b + 2);
    for (int j = 0; j < 32; j++) y[j] = (float)qs[j] * d;
}

static void deq_q2_K(const uint8_t *b, float *y) {  // scales[16], qs[64], d, dmin
    const uint8_t *scales = b, *q = b + 16;
    const float d = f16(b + 80), dmin = f16(b + 82);
    int is = 0;
    for (int n = 0; n < QK_K; n += 128) {
        int shift = 0;
        for (int j = 0; j < 4; ++j) {
            uint8_t sc = scales[is++];
            float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            for (int l = 0; l < 16; ++l) *y++ = dl * (float)((int8_t)((q[l] >> shift) & 3)) - ml;
            sc = scales[is++];
            dl = d * (sc & 0xF);
            ml = dmin * (sc >> 4);
            for (int l = 0; l < 16; ++l) *y++ = dl * (float)((int8_t)((q[l + 16] >> shift) & 3)) - ml;
            shift += 2;
        }
        q += 32;
    }
}

static void deq_q3_K(const uint8_t *b, float *y) {  // hmask[32], qs[64], scales[12], d
    const uint8_t *hm = b, *q = b + 32;
    const float d_all = f16(b + 108);
    int8_t scales[16];
    ck_q3_K_scales(b + 96, scales);
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < QK_K; n += 128) {
        int shift = 0;
        for (int j = 0; j < 4; ++j) {
            float dl = d_all * (scales[is++] - 32);
            for (int l = 0; l < 16; ++l) *y++ = dl * (float)((int8_t)((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
            dl = d_all * (scales[is++] - 32);
            for (int l = 0; l < 16; ++l) *y++ = dl * (float)((int8_t)((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
            shift += 2;
            m <<= 1;
        }
        q += 32;
    }
}

static void deq_q4_K(const uint8_t *b, float *y) {  // d, dmin, scales[12], qs[128]
    const float d = f16(b), min = f16(b + 2);
    const uint8_t *scales = b + 4, *q = b + 16;
    int is = 0;
    int sc, m;
    for (int j = 0; j < QK_K; j += 64) {
        ck_scale_min_k4(is + 0, scales, &sc, &m);
        const float d1 = d * sc, m1 = min * m;
        ck_scale_min_k4(is + 1, scales, &sc, &m);
        const float d2 = d * sc, m2 = min * m;
        for (int l = 0; l < 32; ++l) *y++ = d1 * (float)(q[l] & 0xF) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * (float)(q[l] >> 4) - m2;
        q += 32;
        is += 2;
    }
}

static void deq_q5_K(const uint8_t *b, float *y) {  // d, dmin, scales[12], qh[32], qs[128]
    const float d = f16(b), min = f16(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
    int is = 0;
    int sc, m;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < QK_K; j += 64) {
        ck_scale_min_k4(is + 0, scales, &sc, &m);
        const float d1 = d * sc, m1 = min * m;
        ck_scale_min_k4(is + 1, scales, &sc, &m);
        const float d2 = d * sc, m2 = min * m;
        for (int l = 0; l < 32; ++l) *y++ = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        ql += 32;
        is += 2;
        u1 <<= 2;
        u2 <<= 2;
    }
}

static void deq_q6_K(const uint8_t *b, float *y) {  // ql[128], qh[64], scales[16], d
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    const float d = f16(b + 208);
    for (int n = 0; n < QK_K; n += 128) {
        for (int l = 0; l < 32; ++l) {
            int is = l / 16;
            const int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l + 0] = d * sc[is + 0] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

typedef void (*block_fn)(const uint8_t *, float *);

int ck_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n) {
    const uint8_t *b = (const uint8_t *)src;
    block_fn fn;
    int qk, size;
    switch (type) {
    case 0: memcpy(dst, src, (size_t)n * 4); return 0;                       // F32
    case 1: ck_fp16_to_fp32_row((const uint16_t *)src, dst, n); return 0;    // F16
    case 30: {                                                               // BF16
        const uint16_t *h = (const uint16_t *)src;
        for (int64_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)h[i] << 16;
            memcpy(dst + i, &bits, 4);
        }
        return 0;
    }
    case 2: fn = deq_q4_0; qk = 32; size = 18; break;
    case 3: fn = deq_q4_1; qk = 32; size = 20; break;
    case 6: fn = deq_q5_0; qk = 32; size = 22; break;
    case 7: fn = deq_q5_1; qk = 32; size = 24; break;
    case 8: fn = deq_q8_0; qk = 32; size = 34; break;
    case 10: fn = deq_q2_K; qk = 256; size = 84; break;
    case 11: fn = deq_q3_K; qk = 256; size = 110; break;
    case 12: fn = deq_q4_K; qk = 256; size = 144; break;
    case 13: fn = deq_q5_K; qk = 256; size = 176; break;
    case 14: fn = deq_q6_K; qk = 256; size = 210; break;
    default: return -1;
    }
    for (int64_t i = 0; i < n / qk; i++) fn(b + i * size, dst + i * qk);
    return 0;
}
