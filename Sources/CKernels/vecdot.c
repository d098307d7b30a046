#include "CKernels.h"
#include "ck_internal.h"
#include <math.h>
#include <string.h>

// Quantized dot products with quantized activations, as ggml computes them
// (ggml-cpu/quants.c: quantize_row_q8_*, ggml_vec_dot_*_q8_*): the integer products of a
// block are summed exactly, then scaled by the blocks' float scales. The Swift twins in
// Runtime/Quant/VecDot.swift compute the same sums.

enum { T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7, T_Q8_0 = 8, T_Q8_1 = 9,
       T_Q2_K = 10, T_Q3_K = 11, T_Q4_K = 12, T_Q5_K = 13, T_Q6_K = 14, T_Q8_K = 15, T_BF16 = 30 };

static inline float h2f(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return ck_fp16_to_fp32(h); }
static inline void f2h(uint8_t *p, float f) { uint16_t h = ck_fp32_to_fp16(f); memcpy(p, &h, 2); }

int ck_vec_dot_type(uint32_t t) {
    switch (t) {
    case T_Q4_0: case T_Q5_0: case T_Q8_0: return T_Q8_0;
    case T_Q4_1: case T_Q5_1: return T_Q8_1;
    case T_Q2_K: case T_Q3_K: case T_Q4_K: case T_Q5_K: case T_Q6_K: return T_Q8_K;
    case T_F16: return T_F16;
    case T_BF16: return T_BF16;
    case T_F32: return T_F32;
    default: return -1;
    }
}

size_t ck_row_bytes(uint32_t t, int64_t n) {
    switch (t) {
    case T_F32: return (size_t)n * 4;
    case T_F16: case T_BF16: return (size_t)n * 2;
    case T_Q4_0: return (size_t)n / 32 * 18;
    case T_Q4_1: return (size_t)n / 32 * 20;
    case T_Q5_0: return (size_t)n / 32 * 22;
    case T_Q5_1: return (size_t)n / 32 * 24;
    case T_Q8_0: return (size_t)n / 32 * 34;
    case T_Q8_1: return (size_t)n / 32 * 36;
    case T_Q2_K: return (size_t)n / 256 * 84;
    case T_Q3_K: return (size_t)n / 256 * 110;
    case T_Q4_K: return (size_t)n / 256 * 144;
    case T_Q5_K: return (size_t)n / 256 * 176;
    case T_Q6_K: return (size_t)n / 256 * 210;
    case T_Q8_K: return (size_t)n / 256 * 292;
    default: return 0;
    }
}

// MARK: - Activation quantization

static void quantize_q8_0(const float *x, uint8_t *y, int64_t n, int with_sum) {
    const int size = with_sum ? 36 : 34;
    for (int64_t ib = 0; ib < n / 32; ib++) {
        const float *xb = x + ib * 32;
        uint8_t *b = y + ib * size;
        float amax = 0;
        for (int j = 0; j < 32; j++) { const float v = fabsf(xb[j]); if (v > amax) amax = v; }
        // As ggml's x86 quantize_row_q8_0/q8_1: the inverse scale is 127/amax, not 1/d.
        const float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        f2h(b, d);
        int8_t *qs = (int8_t *)(b + (with_sum ? 4 : 2));
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            qs[j] = (int8_t)nearbyintf(xb[j] * id);
            sum += qs[j];
        }
        if (with_sum) f2h(b + 2, d * (float)sum);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
// f2h in one instruction (also round half to even).
__attribute__((target("f16c"))) static inline void f2h_f16c(uint8_t *p, float f) {
    const uint16_t h = (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
    memcpy(p, &h, 2);
}

// quantize_q8_0 eight lanes at a time: the same maximum, the same products rounded half to
// even, the same sum, so the same bytes.
__attribute__((target("avx2,fma,f16c")))
static void quantize_q8_0_avx2(const float *x, uint8_t *y, int64_t n, int with_sum) {
    const int size = with_sum ? 36 : 34;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t ib = 0; ib < n / 32; ib++) {
        const float *xb = x + ib * 32;
        uint8_t *b = y + ib * size;
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(xb + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        f2h_f16c(b, d);
        const __m256 mul = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        if (with_sum) {
            __m256i t = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            __m128i t4 = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
            t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, 0x4E));
            t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, 0xB1));
            f2h_f16c(b + 2, d * (float)_mm_cvtsi128_si32(t4));
        }
        // 32-bit → 8-bit; the packs interleave the 128-bit halves, the permute restores the order.
        const __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
        const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        _mm256_storeu_si256((__m256i *)(b + (with_sum ? 4 : 2)), _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
}
#endif

static void quantize_q8_K(const float *x, uint8_t *y, int64_t n) {
    for (int64_t ib = 0; ib < n / 256; ib++) {
        const float *xb = x + ib * 256;
        uint8_t *b = y + ib * 292;
        int8_t *qs = (int8_t *)(b + 4);
        int16_t bsums[16];
        float amax = 0, max = 0;
        for (int j = 0; j < 256; j++) {
            const float ax = fabsf(xb[j]);
            if (ax > amax) { amax = ax; max = xb[j]; }
        }
        float d = 0;
        if (amax == 0) {
            memset(qs, 0, 256);
        } else {
            const float iscale = -127.0f / max;
            for (int j = 0; j < 256; j++) {
                int v = (int)nearbyintf(iscale * xb[j]);
                qs[j] = (int8_t)(v < 127 ? v : 127);
            }
            d = 1.0f / iscale;
        }
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += qs[g * 16 + l];
            bsums[g] = (int16_t)s;
        }
        memcpy(b, &d, 4);
        memcpy(b + 260, bsums, 32);
    }
}

#if defined(__x86_64__)
// quantize_q8_K eight lanes at a time: the same signed maximum (the first element of the
// largest magnitude), the same products rounded half to even and capped at 127, the same
// sums of sixteen, so the same bytes.
__attribute__((target("avx2,fma,f16c")))
static void quantize_q8_K_avx2(const float *x, uint8_t *y, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t ib = 0; ib < n / 256; ib++) {
        const float *xb = x + ib * 256;
        uint8_t *b = y + ib * 292;
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 32; k++) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + 8 * k)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        int16_t bsums[16];
        float d = 0;
        if (amax == 0) {
            memset(b + 4, 0, 256);
            memset(bsums, 0, sizeof bsums);
        } else {
            float max = 0;
            for (int j = 0; j < 256; j++)
                if (fabsf(xb[j]) == amax) { max = xb[j]; break; }
            const float iscale = -127.0f / max;
            const __m256 mul = _mm256_set1_ps(iscale);
            const __m256i cap = _mm256_set1_epi32(127);
            for (int c = 0; c < 8; c++) {  // 32 elements a round: two groups of sixteen
                __m256i q[4];
                for (int k = 0; k < 4; k++) {
                    const __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xb + 32 * c + 8 * k), mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                    q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(r), cap);
                }
                for (int h = 0; h < 2; h++) {
                    const __m256i t = _mm256_add_epi32(q[2 * h], q[2 * h + 1]);
                    __m128i t4 = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
                    t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, 0x4E));
                    t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, 0xB1));
                    bsums[2 * c + h] = (int16_t)_mm_cvtsi128_si32(t4);
                }
                // 32-bit → 8-bit; the packs interleave the 128-bit halves, the permute restores the order.
                const __m256i p8 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
                _mm256_storeu_si256((__m256i *)(b + 4 + 32 * c), _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
            }
            d = 1.0f / iscale;
        }
        memcpy(b, &d, 4);
        memcpy(b + 260, bsums, 32);
    }
}
#endif

void ck_quantize_row(uint32_t atype, const float *x, void *y, int64_t n) {
    switch (atype) {
    case T_Q8_0: case T_Q8_1: {
        const int with_sum = atype == T_Q8_1;
#if defined(__x86_64__)
        const uint32_t need = CK_CPU_AVX2 | CK_CPU_FMA | CK_CPU_F16C;
        if ((ck_cpu_features() & need) == need) { quantize_q8_0_avx2(x, (uint8_t *)y, n, with_sum); break; }
#endif
        quantize_q8_0(x, (uint8_t *)y, n, with_sum);
        break;
    }
    case T_Q8_K:
#if defined(__x86_64__)
        if ((ck_cpu_features() & (CK_CPU_AVX2 | CK_CPU_FMA | CK_CPU_F16C)) == (CK_CPU_AVX2 | CK_CPU_FMA | CK_CPU_F16C)) { quantize_q8_K_avx2(x, (uint8_t *)y, n); break; }
#endif
        quantize_q8_K(x, (uint8_t *)y, n);
        break;
    case T_F16: ck_fp32_to_fp16_row(x, (uint16_t *)y, n); break;
    case T_BF16: {
        uint16_t *h = (uint16_t *)y;
        for (int64_t i = 0; i < n; i++) {
            uint32_t u; memcpy(&u, x + i, 4);
            // round to nearest even, as ggml_fp32_to_bf16
            if ((u & 0x7fffffff) > 0x7f800000) h[i] = (uint16_t)((u >> 16) | 64);
            else h[i] = (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
        }
        break;
    }
    default: memcpy(y, x, (size_t)n * 4); break;
    }
}

// MARK: - Dot products (scalar; the compiler vectorizes the integer loops)

static float dot_q4_0(const uint8_t *w, const uint8_t *a, int64_t nb) {
    float sumf = 0;
    for (int64_t i = 0; i < nb; i++, w += 18, a += 34) {
        const int8_t *q8 = (const int8_t *)(a + 2);
        int sumi = 0;
        for (int j = 0; j < 16; j++) sumi += ((w[2 + j] & 0x0F) - 8) * q8[j] + ((w[2 + j] >> 4) - 8) * q8[j + 16];
        sumf += (float)sumi * (h2f(w) * h2f(a));
    }
    return sumf;
}

static float dot_q4_1(const uint8_t *w, const uint8_t *a, int64_t nb) {
    float sumf = 0;
    for (int64_t i = 0; i < nb; i++, w += 20, a += 36) {
        const int8_t *q8 = (const int8_t *)(a + 4);
        int sumi = 0;
        for (int j = 0; j < 16; j++) sumi += (w[4 + j] & 0x0F) * q8[j] + (w[4 + j] >> 4) * q8[j + 16];
        sumf += (h2f(w) * h2f(a)) * (float)sumi + h2f(w + 2) * h2f(a + 2);
    }
    return sumf;
}

static float dot_q5(const uint8_t *w, const uint8_t *a, int64_t nb, int with_min) {
    const int wsize = with_min ? 24 : 22, asize = with_min ? 36 : 34, qh_at = with_min ? 4 : 2;
    float sumf = 0;
    for (int64_t i = 0; i < nb; i++, w += wsize, a += asize) {
        uint32_t qh;
        memcpy(&qh, w + qh_at, 4);
        const uint8_t *qs = w + qh_at + 4;
        const int8_t *q8 = (const int8_t *)(a + (with_min ? 4 : 2));
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            const int xh0 = ((qh >> j) << 4) & 0x10, xh1 = (qh >> (j + 12)) & 0x10;
            const int off = with_min ? 0 : 16;
            sumi += (((qs[j] & 0x0F) | xh0) - off) * q8[j] + (((qs[j] >> 4) | xh1) - off) * q8[j + 16];
        }
        if (with_min) sumf += (h2f(w) * h2f(a)) * (float)sumi + h2f(w + 2) * h2f(a + 2);
        else sumf += (float)sumi * (h2f(w) * h2f(a));
    }
    return sumf;
}

static float dot_q8_0(const uint8_t *w, const uint8_t *a, int64_t nb) {
    float sumf = 0;
    for (int64_t i = 0; i < nb; i++, w += 34, a += 34) {
        const int8_t *x = (const int8_t *)(w + 2), *y = (const int8_t *)(a + 2);
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += x[j] * y[j];
        sumf += (float)sumi * (h2f(w) * h2f(a));
    }
    return sumf;
}

static inline float q8k_d(const uint8_t *a) { float d; memcpy(&d, a, 4); return d; }
static inline int q8k_bsum(const uint8_t *a, int g) { int16_t s; memcpy(&s, a + 260 + 2 * g, 2); return s; }


static float dot_q2_K(const uint8_t *w, const uint8_t *a, int64_t nb) {
    float sumf = 0;
    for (int64_t i = 0; i < nb; i++, w += 84, a += 292) {
        const uint8_t *sc = w, *q2 = w + 16;
        const int8_t *q8 = (const int8_t *)(a + 4);
        int summs = 0, isum = 0;
        for (int g = 0; g < 16; g++) summs += q8k_bsum(a, g) * (sc[g] >> 4);
        int is = 0;
        for (int n = 0; n < 256; n += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    const int d = sc[is++] & 0xF;
                    int s = 0;
                    for (int l = 0; l < 16; l++) s += q8[l] * ((q2[l + 16 * half] >> shift) & 3);
                    isum += d * s;
                    q8 += 16;
                }
            }
            q2 += 32;
        }
        const float dall = q8k_d(a) * h2f(w + 80), dmin = q8k_d(a) * h2f(w + 82);
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    return sumf;
}

static float dot_q3_K(const uint8_t *w, const uint8_t *a, int64_t nb) {
    float sumf = 0;
    for (int64_t i = 0; i < nb; i++, w += 110, a += 292) {
        const uint8_t *hm = w, *q3 = w + 32;
        const int8_t *q8 = (const int8_t *)(a + 4);
        int8_t scales[16];
        ck_q3_K_scales(w + 96, scales);
        int isum = 0, is = 0;
        uint8_t m = 1;
        for (int n = 0; n < 256; n += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    int s = 0;
                    for (int l = 0; l < 16; l++) {
                        const int li = l + 16 * half;
                        s += q8[l] * (((q3[li] >> shift) & 3) - ((hm[li] & m) ? 0 : 4));
                    }
                    isum += (scales[is++] - 32) * s;
                    q8 += 16;
                }
                m <<= 1;
            }
            q3 += 32;
        }
        sumf += h2f(w + 108) * q8k_d(a) * (float)isum;
    }
    return sumf;
}

static float dot_q45_K(const uint8_t *w, const uint8_t *a, int64_t nb, int five) {
    const int size = five ? 176 : 144;
    float sumf = 0;
    for (int64_t i = 0; i < nb; i++, w += size, a += 292) {
        const uint8_t *scales = w + 4, *qh = w + 16, *q = w + (five ? 48 : 16);
        const int8_t *q8 = (const int8_t *)(a + 4);
        int isum = 0, summs = 0;
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            ck_scale_min_k4(j, scales, &sc, &mn);
            summs += mn * (q8k_bsum(a, 2 * j) + q8k_bsum(a, 2 * j + 1));
            const int hi = j & 1;
            const uint8_t *qq = q + (j / 2) * 32;
            const uint8_t ub = (uint8_t)(1 << j);
            int s = 0;
            for (int l = 0; l < 32; l++) {
                int v = hi ? (qq[l] >> 4) : (qq[l] & 0xF);
                if (five && (qh[l] & ub)) v += 16;
                s += q8[l] * v;
            }
            isum += sc * s;
            q8 += 32;
        }
        sumf += h2f(w) * q8k_d(a) * (float)isum - h2f(w + 2) * q8k_d(a) * (float)summs;
    }
    return sumf;
}

static float dot_q6_K(const uint8_t *w, const uint8_t *a, int64_t nb) {
    float sumf = 0;
    for (int64_t i = 0; i < nb; i++, w += 210, a += 292) {
        const uint8_t *ql = w, *qh = w + 128;
        const int8_t *sc = (const int8_t *)(w + 192);
        const int8_t *q8 = (const int8_t *)(a + 4);
        int isum = 0;
        for (int n = 0; n < 2; n++) {
            int s[8] = {0};
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                s[is + 0] += q1 * q8[l];
                s[is + 2] += q2 * q8[l + 32];
                s[is + 4] += q3 * q8[l + 64];
                s[is + 6] += q4 * q8[l + 96];
            }
            for (int g = 0; g < 8; g++) isum += sc[g] * s[g];
            ql += 64; qh += 32; sc += 8; q8 += 128;
        }
        sumf += h2f(w + 208) * q8k_d(a) * (float)isum;
    }
    return sumf;
}

static float dot_f16(const uint8_t *w, const uint8_t *a, int64_t n) {
    float row_w[256], row_a[256];
    float sum = 0;
    for (int64_t i = 0; i < n; i += 256) {
        const int64_t m = n - i < 256 ? n - i : 256;
        ck_fp16_to_fp32_row((const uint16_t *)w + i, row_w, m);
        ck_fp16_to_fp32_row((const uint16_t *)a + i, row_a, m);
        sum += ck_dot_f32(row_w, row_a, m);
    }
    return sum;
}

static float dot_bf16(const uint8_t *w, const uint8_t *a, int64_t n) {
    float sum = 0;
    const uint16_t *x = (const uint16_t *)w, *y = (const uint16_t *)a;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)x[i] << 16, v = (uint32_t)y[i] << 16;
        float fx, fy;
        memcpy(&fx, &u, 4);
        memcpy(&fy, &v, 4);
        sum += fx * fy;
    }
    return sum;
}

float ck_vec_dot(uint32_t wtype, const void *wp, const void *ap, int64_t n) {
    const uint8_t *w = (const uint8_t *)wp, *a = (const uint8_t *)ap;
    switch (wtype) {
    case T_Q4_0: return dot_q4_0(w, a, n / 32);
    case T_Q4_1: return dot_q4_1(w, a, n / 32);
    case T_Q5_0: return dot_q5(w, a, n / 32, 0);
    case T_Q5_1: return dot_q5(w, a, n / 32, 1);
    case T_Q8_0: return dot_q8_0(w, a, n / 32);
    case T_Q2_K: return dot_q2_K(w, a, n / 256);
    case T_Q3_K: return dot_q3_K(w, a, n / 256);
    case T_Q4_K: return dot_q45_K(w, a, n / 256, 0);
    case T_Q5_K: return dot_q45_K(w, a, n / 256, 1);
    case T_Q6_K: return dot_q6_K(w, a, n / 256);
    case T_F16: return dot_f16(w, a, n);
    case T_BF16: return dot_bf16(w, a, n);
    case T_F32: return ck_dot_f32((const float *)wp, (const float *)ap, n);
    default: return NAN;
    }
}

int ck_matmul_avx2(uint32_t wtype, const void *w, size_t row_bytes, const void **a, int nt, int64_t n,
                   float *y, int64_t ldy, int64_t r0, int64_t r1);

static int use_avx2(void) {
    const uint32_t need = CK_CPU_AVX2 | CK_CPU_FMA | CK_CPU_F16C;
    return (ck_cpu_features() & need) == need;
}

float ck_vec_dot_fast(uint32_t wtype, const void *w, const void *a, int64_t n) {
    float out;
    const void *rows[1] = {a};
    if (use_avx2() && ck_matmul_avx2(wtype, w, 0, rows, 1, n, &out, 1, 0, 1)) return out;
    return ck_vec_dot(wtype, w, a, n);
}

int ck_matmul_q(uint32_t wtype, const void *w, size_t w_row_bytes, int64_t n,
                const void *a, size_t a_row_bytes, int64_t nt, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (ck_vec_dot_type(wtype) < 0) return -1;
    const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;
    if (use_avx2()) {
        // Groups of up to four activation rows share one unpacking of each weight row.
        int handled = 1;
        for (int64_t t = 0; t < nt && handled; t += 4) {
            const int g = nt - t < 4 ? (int)(nt - t) : 4;
            const void *rows[4];
            for (int k = 0; k < g; k++) rows[k] = ab + (size_t)(t + k) * a_row_bytes;
            handled = ck_matmul_avx2(wtype, w, w_row_bytes, rows, g, n, y + t * ldy, ldy, r0, r1);
        }
        if (handled) return 0;
    }
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = wb + (size_t)r * w_row_bytes;
        for (int64_t t = 0; t < nt; t++) y[t * ldy + r] = ck_vec_dot(wtype, row, ab + (size_t)t * a_row_bytes, n);
    }
    return 0;
}
