#include "CKernels.h"
#include "ck_internal.h"
#include <string.h>

// AVX2 dot products of one weight row with up to four activation rows at once: each weight
// block is unpacked once and multiplied into one accumulator per activation row. Every
// activation row goes through the same operations in the same order whether it is alone or
// grouped, so results do not depend on the batch. The integer products match the scalar
// versions in vecdot.c exactly; only the float accumulation order differs.

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define NTMAX 4

AVX2 static inline float h2f(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return _cvtsh_ss(h); }

AVX2 static inline float hsum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 q = _mm_add_ps(lo, hi);
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

// 16 bytes of nibbles → 32 bytes: low nibbles first, then high nibbles.
AVX2 static inline __m256i nibbles(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

// 32 bits → 32 bytes of 0xFF (bit set) or 0x00.
AVX2 static inline __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t x32;
    memcpy(&x32, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x32), shuf);
    bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

// unsigned × signed bytes, pairwise summed to 8 int32
AVX2 static inline __m256i dot_us(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// signed × signed bytes
AVX2 static inline __m256i dot_ss(__m256i x, __m256i y) {
    return dot_us(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// Q4_0, Q5_0, Q8_0 with Q8_0 activations; Q4_1, Q5_1 with Q8_1. Inlined per type (below),
// so the type's branches fold away. `da` and `sa` hold each activation block's scale and sum
// as floats ([nt][nb]), converted once per call instead of once per weight row (the same
// values, so the results are unchanged).
AVX2 static inline __attribute__((always_inline)) void dot_q32(const uint32_t type, const uint8_t *w, const uint8_t **a, const int nt, int64_t nb,
                                                               const float *da, const float *sa, float *out) {
    __m256 acc[NTMAX];
    float summs[NTMAX] = {0};
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    const int wsize = type == 2 ? 18 : type == 3 ? 20 : type == 6 ? 22 : type == 7 ? 24 : 34;
    const int has_min = type == 3 || type == 7;
    const int asize = has_min ? 36 : 34, aq = has_min ? 4 : 2;
    for (int64_t i = 0; i < nb; i++, w += wsize) {
        const float dw = h2f(w);
        __m256i qx;
        int is_signed = 1;
        switch (type) {
        case 2: qx = _mm256_sub_epi8(nibbles(w + 2), _mm256_set1_epi8(8)); break;
        case 3: qx = nibbles(w + 4); is_signed = 0; break;
        case 6: {  // the fifth bit: (q | 0x10) - 16 → q - 16 where the bit is clear
            __m256i hi = _mm256_andnot_si256(bits_to_bytes(w + 2), _mm256_set1_epi8((char)0xF0));
            qx = _mm256_or_si256(nibbles(w + 6), hi);
            break;
        }
        case 7: {
            __m256i hi = _mm256_and_si256(bits_to_bytes(w + 4), _mm256_set1_epi8(0x10));
            qx = _mm256_or_si256(nibbles(w + 8), hi);
            is_signed = 0;
            break;
        }
        default: qx = _mm256_loadu_si256((const __m256i *)(w + 2)); break;
        }
        const float mw = has_min ? h2f(w + 2) : 0;
        for (int t = 0; t < nt; t++) {
            const __m256i qy = _mm256_loadu_si256((const __m256i *)(a[t] + i * asize + aq));
            const __m256i p = is_signed ? dot_ss(qx, qy) : dot_us(qx, qy);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da[t * nb + i]), _mm256_cvtepi32_ps(p), acc[t]);
            if (has_min) summs[t] += mw * sa[t * nb + i];
        }
    }
    for (int t = 0; t < nt; t++) out[t] = hsum(acc[t]) + summs[t];
}

// A row loop per type and group size: rows [r0, r1) of W against `nt` (≤ 4) activation rows,
// so no dispatch happens per row. The activation scales are converted to float first.
#define ROWS32(inner, nt_) for (int64_t r = r0; r < r1; r++) { \
        float o[NTMAX]; \
        inner(w + (size_t)r * row_bytes, a, nt_, nb, da, sa, o); \
        for (int k = 0; k < nt_; k++) y[k * ldy + r] = o[k]; \
    }
#define Q32(name, t) AVX2 static void name(const uint8_t *w, size_t row_bytes, const uint8_t **a, int nt, int64_t nb, \
                                           float *y, int64_t ldy, int64_t r0, int64_t r1) { \
    const int has_min_ = t == 3 || t == 7; \
    const int asize_ = has_min_ ? 36 : 34; \
    float da[NTMAX * nb], sa[has_min_ ? NTMAX * nb : 1]; \
    for (int k = 0; k < nt; k++) \
        for (int64_t i = 0; i < nb; i++) { \
            da[k * nb + i] = h2f(a[k] + i * asize_); \
            if (has_min_) sa[k * nb + i] = h2f(a[k] + i * asize_ + 2); \
        } \
    switch (nt) { \
    case 1: ROWS32(dot_q32_ ## t, 1) break; \
    case 2: ROWS32(dot_q32_ ## t, 2) break; \
    case 3: ROWS32(dot_q32_ ## t, 3) break; \
    default: ROWS32(dot_q32_ ## t, 4) break; \
    } \
}
#define Q32_INNER(t) AVX2 static inline __attribute__((always_inline)) void dot_q32_ ## t(const uint8_t *w, const uint8_t **a, const int nt, int64_t nb, \
                                                                                          const float *da, const float *sa, float *out) { dot_q32(t, w, a, nt, nb, da, sa, out); }
Q32_INNER(2)
Q32_INNER(3)
Q32_INNER(6)
Q32_INNER(7)
Q32_INNER(8)
Q32(dot_q4_0, 2)
Q32(dot_q4_1, 3)
Q32(dot_q5_0, 6)
Q32(dot_q5_1, 7)
Q32(dot_q8_0, 8)


AVX2 static inline __attribute__((always_inline)) void dot_q4_K_n(const uint8_t *w, const uint8_t **a, const int nt, int64_t nb, float *out) {
    __m256 acc[NTMAX];
    float accm[NTMAX] = {0};
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < nb; i++, w += 144) {
        int sc[8], mn[8];
        for (int j = 0; j < 8; j++) ck_scale_min_k4(j, w + 4, &sc[j], &mn[j]);
        __m256i q4l[4], q4h[4];
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(w + 16 + 32 * j));
            q4l[j] = _mm256_and_si256(bits, m4);
            q4h[j] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
        }
        const float dw = h2f(w), dminw = h2f(w + 2);
        // Each min twice, against the two 16-element sums of its 32 activations.
        const __m256i mins = _mm256_setr_epi16((short)mn[0], (short)mn[0], (short)mn[1], (short)mn[1], (short)mn[2], (short)mn[2],
                                               (short)mn[3], (short)mn[3], (short)mn[4], (short)mn[4], (short)mn[5], (short)mn[5],
                                               (short)mn[6], (short)mn[6], (short)mn[7], (short)mn[7]);
        for (int t = 0; t < nt; t++) {
            const uint8_t *ab = a[t] + i * 292;
            float ad;
            memcpy(&ad, ab, 4);
            // Σ min_j · (bsum_2j + bsum_2j+1), exact in integers.
            const __m256i mprod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)(ab + 260)));
            __m128i ms = _mm_add_epi32(_mm256_castsi256_si128(mprod), _mm256_extracti128_si256(mprod, 1));
            ms = _mm_add_epi32(ms, _mm_shuffle_epi32(ms, 0x4E));
            ms = _mm_add_epi32(ms, _mm_shuffle_epi32(ms, 0xB1));
            const int summs = _mm_cvtsi128_si32(ms);
            __m256i sumi = _mm256_setzero_si256();
            const int8_t *q8 = (const int8_t *)(ab + 4);
            for (int j = 0; j < 4; j++) {
                const __m256i y0 = _mm256_loadu_si256((const __m256i *)(q8 + 64 * j));
                const __m256i y1 = _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32));
                const __m256i p0 = _mm256_madd_epi16(_mm256_set1_epi16((short)sc[2 * j]), _mm256_maddubs_epi16(q4l[j], y0));
                const __m256i p1 = _mm256_madd_epi16(_mm256_set1_epi16((short)sc[2 * j + 1]), _mm256_maddubs_epi16(q4h[j], y1));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
            }
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * ad), _mm256_cvtepi32_ps(sumi), acc[t]);
            accm[t] += dminw * ad * (float)summs;
        }
    }
    for (int t = 0; t < nt; t++) out[t] = hsum(acc[t]) - accm[t];
}

AVX2 static inline __attribute__((always_inline)) void dot_q6_K_n(const uint8_t *w, const uint8_t **a, const int nt, int64_t nb, float *out) {
    __m256 acc[NTMAX];
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03), m32 = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < nb; i++, w += 210) {
        const int8_t *sc = (const int8_t *)(w + 192);
        __m256i q[8], scale[8];
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
            const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)ql), b2 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(b1, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
            q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(b2, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
            q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
            q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
            for (int k = 0; k < 4; k++) {
                const int8_t *s = sc + 8 * h + 2 * k;
                scale[4 * h + k] = _mm256_set_m128i(_mm_set1_epi16(s[1]), _mm_set1_epi16(s[0]));
            }
        }
        const float dw = h2f(w + 208);
        for (int t = 0; t < nt; t++) {
            const uint8_t *ab = a[t] + i * 292;
            float ad;
            memcpy(&ad, ab, 4);
            const int8_t *q8 = (const int8_t *)(ab + 4);
            __m256i sumi = _mm256_setzero_si256();
            for (int k = 0; k < 8; k++) {
                const __m256i y = _mm256_loadu_si256((const __m256i *)(q8 + 32 * k));
                const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], y), _mm256_maddubs_epi16(m32, y));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale[k], p));
            }
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * ad), _mm256_cvtepi32_ps(sumi), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) out[t] = hsum(acc[t]);
}

#define ROWS(inner, nt_) for (int64_t r = r0; r < r1; r++) { \
        float o[NTMAX]; \
        inner(w + (size_t)r * row_bytes, a, nt_, nb, o); \
        for (int k = 0; k < nt_; k++) y[k * ldy + r] = o[k]; \
    }
#define KQ(name, inner) AVX2 static void name(const uint8_t *w, size_t row_bytes, const uint8_t **a, int nt, int64_t nb, \
                                              float *y, int64_t ldy, int64_t r0, int64_t r1) { \
    switch (nt) { \
    case 1: ROWS(inner, 1) break; \
    case 2: ROWS(inner, 2) break; \
    case 3: ROWS(inner, 3) break; \
    default: ROWS(inner, 4) break; \
    } \
}
KQ(dot_q4_K, dot_q4_K_n)
KQ(dot_q6_K, dot_q6_K_n)

// Rows [r0, r1) of W against `nt` (≤ 4) activation rows, y[k * ldy + r]. Returns 1 when an
// AVX2 kernel handled the type.
int ck_matmul_avx2(uint32_t wtype, const void *w, size_t row_bytes, const void **a, int nt, int64_t n,
                   float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const uint8_t *wb = (const uint8_t *)w;
    const uint8_t **ab = (const uint8_t **)a;
    switch (wtype) {
    case 2: dot_q4_0(wb, row_bytes, ab, nt, n / 32, y, ldy, r0, r1); return 1;
    case 3: dot_q4_1(wb, row_bytes, ab, nt, n / 32, y, ldy, r0, r1); return 1;
    case 6: dot_q5_0(wb, row_bytes, ab, nt, n / 32, y, ldy, r0, r1); return 1;
    case 7: dot_q5_1(wb, row_bytes, ab, nt, n / 32, y, ldy, r0, r1); return 1;
    case 8: dot_q8_0(wb, row_bytes, ab, nt, n / 32, y, ldy, r0, r1); return 1;
    case 12: dot_q4_K(wb, row_bytes, ab, nt, n / 256, y, ldy, r0, r1); return 1;
    case 14: dot_q6_K(wb, row_bytes, ab, nt, n / 256, y, ldy, r0, r1); return 1;
    default: return 0;
    }
}
#else
int ck_matmul_avx2(uint32_t wtype, const void *w, size_t row_bytes, const void **a, int nt, int64_t n,
                   float *y, int64_t ldy, int64_t r0, int64_t r1) {
    (void)wtype; (void)w; (void)row_bytes; (void)a; (void)nt; (void)n; (void)y; (void)ldy; (void)r0; (void)r1;
    return 0;
}
#endif
