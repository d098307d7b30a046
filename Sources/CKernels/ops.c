#include "CKernels.h"
#include "ck_internal.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Element-wise and per-row operations of the forward pass. Each works on one row (one
// token) with a fixed order of operations, so a token's result never depends on its batch.

// The sum of squares of x in double (ggml_compute_forward_rms_norm's precision): each
// square a float product, as ggml's, added into eight running sums (element i into sum i % 8),
// combined pairwise as ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7)). One sequential sum was a
// chain of dependent double adds, 2% of a decode step of four sequences; the eight sums are
// the same on both paths, so the same bits. (Against ggml's one sum the double differs in its
// last bits, far below the float the mean is rounded to.)
static double sum_squares_lanes(const float *x, int64_t from, int64_t n, double *lanes) {
    for (int64_t i = from; i < n; i++) lanes[i % 8] += (double)(x[i] * x[i]);
    return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static double sum_squares_avx2(const float *x, int64_t n) {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();  // sums 0–3 and 4–7
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 sq = _mm256_mul_ps(v, v);
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
    }
    double lanes[8];
    _mm256_storeu_pd(lanes, lo);
    _mm256_storeu_pd(lanes + 4, hi);
    return sum_squares_lanes(x, i, n, lanes);
}
#endif

void ck_rms_norm(const float *x, const float *w, float *y, int64_t n, float eps) {
    double sum;
#if defined(__x86_64__)
    if (ck_cpu_features() & CK_CPU_AVX2) sum = sum_squares_avx2(x, n);
    else
#endif
    {
        double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        sum = sum_squares_lanes(x, 0, n, lanes);
    }
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    if (w) {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
    }
}

void ck_rope_angles(int64_t n_rot, int64_t pos, float freq_base, float freq_scale, const float *freq_factors, float *cs) {
    // As ggml's rope cache: theta = pos * theta_scale^i by repeated float multiplication.
    const int64_t half = n_rot / 2;
    const float theta_scale = powf(freq_base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int64_t i = 0; i < half; i++) {
        const float ff = freq_factors ? freq_factors[i] : 1.0f;
        const float t = freq_scale * (theta / ff);
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void ck_rope(float *x, int64_t n_rot, const float *cs, int neox) {
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const int64_t a = neox ? i : 2 * i;
        const int64_t b = neox ? i + half : 2 * i + 1;
        const float x0 = x[a], x1 = x[b];
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
    }
}

#if defined(__x86_64__)
// exp(x) as ggml's AVX2 ggml_v_expf computes it (a polynomial adapted from Arm's optimized
// routines, within 1.5 ulp), so SiLU rounds as llama.cpp's does. Lanes outside its fast
// range (|n| > 126) fall back to expf.
__attribute__((target("avx2,fma")))
static __m256 v_expf(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1))));
    const __m256 c = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(126), _CMP_GT_OQ);
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    __m256 res = _mm256_fmadd_ps(j, k, k);
    if (_mm256_movemask_ps(c)) {
        float xs[8], rs[8];
        _mm256_storeu_ps(xs, x);
        _mm256_storeu_ps(rs, res);
        const int mask = _mm256_movemask_ps(c);
        for (int l = 0; l < 8; l++) if (mask & (1 << l)) rs[l] = expf(xs[l]);
        res = _mm256_loadu_ps(rs);
    }
    return res;
}

__attribute__((target("avx2,fma")))
static void swiglu_avx2(const float *g, const float *u, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 silu = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1), v_expf(_mm256_sub_ps(_mm256_setzero_ps(), x))));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
#endif

void ck_swiglu(const float *g, const float *u, float *out, int64_t n) {
#if defined(__x86_64__)
    if ((ck_cpu_features() & (CK_CPU_AVX2 | CK_CPU_FMA)) == (CK_CPU_AVX2 | CK_CPU_FMA)) { swiglu_avx2(g, u, out, n); return; }
#endif
    for (int64_t i = 0; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

// GELU's tanh form, 0.5·x·(1 + tanh(y)) with y = √(2/π)·(x + 0.044715·x³), written as
// x / (1 + exp(−2y)) (the same function: 1 + tanh(y) = 2 / (1 + exp(−2y))), so the vector
// path can use v_expf as SiLU does; the last n % 8 elements use expf.
static inline float gelu_scalar(float x) {
    const float y = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * y));
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void geglu_avx2(const float *g, const float *u, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        const __m256 y = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f), _mm256_add_ps(x, _mm256_mul_ps(_mm256_set1_ps(0.044715f), x3)));
        const __m256 gelu = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1), v_expf(_mm256_mul_ps(_mm256_set1_ps(-2.0f), y))));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(gelu, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) out[i] = gelu_scalar(g[i]) * u[i];
}
#endif

void ck_geglu(const float *g, const float *u, float *out, int64_t n) {
#if defined(__x86_64__)
    if ((ck_cpu_features() & (CK_CPU_AVX2 | CK_CPU_FMA)) == (CK_CPU_AVX2 | CK_CPU_FMA)) { geglu_avx2(g, u, out, n); return; }
#endif
    for (int64_t i = 0; i < n; i++) out[i] = gelu_scalar(g[i]) * u[i];
}

// The first index holding the largest value: the maximum eight lanes at a time (a NaN lane of x
// loses to the running maximum, which starts at x[0] and so is never NaN), then the first
// element equal to it. As the scalar scan `best = i when x[i] > x[best]`, which is the fallback.
#if defined(__x86_64__)
__attribute__((target("avx2")))
static float max_avx2(const float *x, int64_t n) {
    __m256 m0 = _mm256_set1_ps(x[0]), m1 = m0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);  // max_ps(a, b) gives b when either is NaN
        m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
    }
    float lanes[8], m;
    _mm256_storeu_ps(lanes, _mm256_max_ps(m0, m1));
    m = lanes[0];
    for (int k = 1; k < 8; k++) if (lanes[k] > m) m = lanes[k];
    for (; i < n; i++) if (x[i] > m) m = x[i];
    return m;
}
#endif

int64_t ck_argmax(const float *x, int64_t n) {
    if (x[0] != x[0]) return 0;
#if defined(__x86_64__)
    if (ck_cpu_features() & CK_CPU_AVX2) {
        const float m = max_avx2(x, n);
        for (int64_t i = 0; i < n; i++) if (x[i] == m) return i;
    }
#endif
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

// Sampling weights: w[j] = exp((z[i] − zmax) · scale) for i = index[j] (or j when index is
// NULL), in float as ck_expf computes it, stored as doubles; returns their sum, added in order.
// Arguments below −87 (weights under 1.6e-38 of the best token's) give 0, so that a low
// temperature's far tails do not take the scalar path.
static double exp_weights_from(const float *z, const int32_t *index, int64_t j, int64_t n, float zmax, float scale,
                               double *w, double total) {
    for (; j < n; j++) {
        const float x = (z[index ? index[j] : j] - zmax) * scale;
        w[j] = x >= -87.0f ? (double)ck_expf(x) : 0;
        total += w[j];
    }
    return total;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static double exp_weights_avx2(const float *z, const int32_t *index, int64_t n, float zmax, float scale, double *w) {
    double total = 0;
    int64_t j = 0;
    const __m256 floor = _mm256_set1_ps(-87.0f);
    for (; j + 8 <= n; j += 8) {
        __m256 v;
        if (index) {
            v = _mm256_i32gather_ps(z, _mm256_loadu_si256((const __m256i *)(index + j)), 4);
        } else {
            v = _mm256_loadu_ps(z + j);
        }
        const __m256 x = _mm256_mul_ps(_mm256_sub_ps(v, _mm256_set1_ps(zmax)), _mm256_set1_ps(scale));
        const __m256 keep = _mm256_cmp_ps(x, floor, _CMP_GE_OQ);
        const __m256 e = _mm256_and_ps(v_expf(_mm256_max_ps(x, floor)), keep);
        const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(e)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1));
        _mm256_storeu_pd(w + j, lo);
        _mm256_storeu_pd(w + j + 4, hi);
        for (int l = 0; l < 8; l++) total += w[j + l];
    }
    return exp_weights_from(z, index, j, n, zmax, scale, w, total);
}
#endif

double ck_exp_weights(const float *z, const int32_t *index, int64_t n, float zmax, float scale, double *w) {
#if defined(__x86_64__)
    if ((ck_cpu_features() & (CK_CPU_AVX2 | CK_CPU_FMA)) == (CK_CPU_AVX2 | CK_CPU_FMA)) return exp_weights_avx2(z, index, n, zmax, scale, w);
#endif
    return exp_weights_from(z, index, 0, n, zmax, scale, w, 0);
}

// exp(x) as v_expf computes each lane (the same operations, fused where it fuses; lanes outside
// its fast range to expf), for the softmax of attention, whose vector path takes eight scores a
// time with v_expf and whose scalar path and tails take this: both round alike.
float ck_expf(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    if (fabsf(n) > 126) return expf(x);
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    uint32_t zi;
    memcpy(&zi, &z, 4);
    const uint32_t ki = (zi << 23) + 0x3F800000u;
    float k;
    memcpy(&k, &ki, 4);
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u, 0x1.ffffecp-1f * b);
    return fmaf(j, k, k);
}

// The softmax's sum of a head's exponentials: eight running sums, position first + i into sum
// i % 8, in order, then ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)) — so the vector path
// adds eight at a time and still rounds as the scalar one.
static float sum8(const float *lanes) {
    return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
}

// Positions [from, last] of a head's scores sg to exp(score − max), each added to its running
// sum (position first + i into lanes[i % 8]); the scalar path takes them all, the vector path
// the tail after its groups of eight.
static void exp_into_lanes(float *sg, int64_t from, int64_t first, int64_t last, float max, float *lanes) {
    for (int64_t j = from; j <= last; j++) {
        sg[j] = ck_expf(sg[j] - max);
        lanes[(j - first) % 8] += sg[j];
    }
}

// Each head's scores (row g of `scores`, positions [first, last]) to exp(score − max); inv[g]
// is one over their sum (sum8's order).
static void softmax_scores(float *scores, int64_t groups, int64_t n, int64_t first, int64_t last, const float *maxv, float *inv) {
    for (int64_t g = 0; g < groups; g++) {
        float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        exp_into_lanes(scores + g * n, first, first, last, maxv[g], lanes);
        inv[g] = 1.0f / sum8(lanes);
    }
}

#if defined(__x86_64__)
// ck_attend_group reading the half-precision keys and values where they lie: each row's
// vectors are converted as they are used, once for up to three heads of the group (their
// sums in registers), and never stored as floats (converting rows into a float copy first,
// then reading it back once per head, was half of the kernel's time). The same operations on
// the same values as the scalar path (each dot product in ck_dot_f32's order; each head's
// output summed in position order, a fused multiply-add per value), so the same bits.
// For head_dim a multiple of 32, head_dim_v of 8, both at most 256.

// softmax_scores eight positions at a time (v_expf lane by lane as ck_expf; the sums in sum8's
// lanes), the tail by exp_into_lanes as there; then each probability normalized (p · inv).
__attribute__((target("avx2,fma")))
static void softmax_scores_avx2(float *scores, int64_t groups, int64_t n, int64_t first, int64_t last, const float *maxv) {
    for (int64_t g = 0; g < groups; g++) {
        float *sg = scores + g * n;
        const __m256 m = _mm256_set1_ps(maxv[g]);
        __m256 acc = _mm256_setzero_ps();
        int64_t j = first;
        for (; j + 8 <= last + 1; j += 8) {
            const __m256 e = v_expf(_mm256_sub_ps(_mm256_loadu_ps(sg + j), m));
            _mm256_storeu_ps(sg + j, e);
            acc = _mm256_add_ps(acc, e);
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, acc);
        exp_into_lanes(sg, j, first, last, maxv[g], lanes);
        const float inv = 1.0f / sum8(lanes);
        const __m256 vi = _mm256_set1_ps(inv);
        for (j = first; j + 8 <= last + 1; j += 8) _mm256_storeu_ps(sg + j, _mm256_mul_ps(_mm256_loadu_ps(sg + j), vi));
        for (; j <= last; j++) sg[j] *= inv;
    }
}

// Where position j's row lies (keys or values).
static inline const uint16_t *row_at(const uint16_t *base, const int32_t *block_table, int64_t block_size, int64_t block_stride,
                                     int64_t row_stride, int64_t j) {
    return base + block_table[j / block_size] * block_stride + (j % block_size) * row_stride;
}

// Asks for the block after position j's (the rows of a long context come from memory; without
// fetching ahead, half of the kernel's time went to waiting on them): `bytes` of each.
__attribute__((target("avx2")))
static inline void prefetch_next_block(const uint16_t *base, const int32_t *block_table, int64_t block_size, int64_t block_stride,
                                       int64_t row_stride, int64_t j, int64_t last, int64_t bytes) {
    const int64_t next = (j / block_size + 1) * block_size;
    if (next > last) return;
    const char *r = (const char *)row_at(base, block_table, block_size, block_stride, row_stride, next);
    const int64_t rows = last - next + 1 < block_size ? last - next + 1 : block_size;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(r + i * row_stride * 2 + b, _MM_HINT_T0);
}

// Asks for the first rows (up to 16) before their first use (the others come a block ahead).
__attribute__((target("avx2")))
static inline void prefetch_first_rows(const uint16_t *base, const int32_t *block_table, int64_t block_size, int64_t block_stride,
                                       int64_t row_stride, int64_t first, int64_t last, int64_t bytes) {
    for (int64_t j = first; j <= last && j < first + 16; j++) {
        const char *r = (const char *)row_at(base, block_table, block_size, block_stride, row_stride, j);
        for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(r + b, _MM_HINT_T0);
    }
}

// The eight dot products of one head, in ck_dot_f32's order, from each row's four partial
// sums combined (s0 + s1) + (s2 + s3) (v[r]): the lanes ((v0 + v4) + (v2 + v6)) + ((v1 + v5) +
// (v3 + v7)) of the eight rows together (a transpose with adds).
__attribute__((target("avx2"), always_inline))
static inline __m256 lane_sums8(const __m256 v[8]) {
    __m256 w[4];  // (v0 + v4, v1 + v5, v2 + v6, v3 + v7) of rows r and r + 4
    for (int r = 0; r < 4; r++)
        w[r] = _mm256_add_ps(_mm256_permute2f128_ps(v[r], v[r + 4], 0x20), _mm256_permute2f128_ps(v[r], v[r + 4], 0x31));
    // Lanes 0 + 2 and 1 + 3 of each row, then those two: rows 0..3 in the low half, 4..7 in the high.
    const __m256 p01 = _mm256_add_ps(_mm256_shuffle_ps(w[0], w[1], 0x44), _mm256_shuffle_ps(w[0], w[1], 0xEE));
    const __m256 p23 = _mm256_add_ps(_mm256_shuffle_ps(w[2], w[3], 0x44), _mm256_shuffle_ps(w[2], w[3], 0xEE));
    return _mm256_hadd_ps(p01, p23);
}

// Eight scores of a head (positions e0…, `count` of them real) into its row sg, its running
// maximum in maxv8 (a full eight) or *maxv (a last, partial eight); fold_max8 joins the two.
__attribute__((target("avx2"), always_inline))
static inline void store_scores8(__m256 s8, float *sg, int64_t e0, int64_t count, __m256 *maxv8, float *maxv) {
    if (count == 8) {
        _mm256_storeu_ps(sg + e0, s8);
        *maxv8 = _mm256_max_ps(s8, *maxv8);  // a NaN score is passed over, as below
        return;
    }
    float t[8];
    _mm256_storeu_ps(t, s8);
    for (int64_t r = 0; r < count; r++) {
        sg[e0 + r] = t[r];
        if (t[r] > *maxv) *maxv = t[r];
    }
}

__attribute__((target("avx2"), always_inline))
static inline void fold_max8(__m256 maxv8, float *maxv) {
    float m[8];
    _mm256_storeu_ps(m, maxv8);
    for (int r = 0; r < 8; r++) if (m[r] > *maxv) *maxv = m[r];
}

// Heads [g0, g0 + H) (H constant, at most 3): the scores of positions [first, last] into their
// rows of `scores` (times `scale`), and each head's maximum into maxv.
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void scores_heads(const int H, const float *q, int64_t g0, int64_t head_dim, float scale, const uint16_t *k_base,
                                const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                                int64_t first, int64_t last, float *scores, float *maxv) {
    const int64_t n = last + 1;
    __m256 maxv8[3];
    for (int h = 0; h < H; h++) maxv8[h] = _mm256_set1_ps(-INFINITY);
    for (int64_t e0 = first; e0 <= last; e0 += 8) {
        const int64_t count = last + 1 - e0 < 8 ? last + 1 - e0 : 8;
        __m256 v[3][8];
        for (int64_t r = 0; r < 8; r++) {
            if (r >= count) {  // past the end: lanes whose results are not used
                for (int h = 0; h < H; h++) v[h][r] = _mm256_setzero_ps();
                continue;
            }
            const int64_t j = e0 + r;
            if (j % block_size == 0) prefetch_next_block(k_base, block_table, block_size, block_stride, row_stride, j, last, head_dim * 2);
            const uint16_t *row = row_at(k_base, block_table, block_size, block_stride, row_stride, j);
            __m256 s[3][4];
            for (int h = 0; h < H; h++)
                for (int c = 0; c < 4; c++) s[h][c] = _mm256_setzero_ps();
            for (int64_t i = 0; i < head_dim; i += 32) {
                for (int c = 0; c < 4; c++) {
                    const __m256 k = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + i + 8 * c)));
                    for (int h = 0; h < H; h++) s[h][c] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (g0 + h) * head_dim + i + 8 * c), k, s[h][c]);
                }
            }
            for (int h = 0; h < H; h++) v[h][r] = _mm256_add_ps(_mm256_add_ps(s[h][0], s[h][1]), _mm256_add_ps(s[h][2], s[h][3]));
        }
        for (int h = 0; h < H; h++) {
            const __m256 s8 = _mm256_mul_ps(lane_sums8(v[h]), _mm256_set1_ps(scale));
            store_scores8(s8, scores + (g0 + h) * n, e0, count, &maxv8[h], &maxv[g0 + h]);
        }
    }
    for (int h = 0; h < H; h++) fold_max8(maxv8[h], &maxv[g0 + h]);
}

// Heads [g0, g0 + H) (H at most 3), output values [d0, d0 + 8·V) (V at most 4, constants):
// out = Σ over positions in order of p[j] · value row j, one fused multiply-add per value.
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void values_heads(const int H, const int V, int64_t g0, int64_t d0, int64_t head_dim_v, const uint16_t *v_base,
                                const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                                int64_t first, int64_t last, const float *scores, float *out) {
    const int64_t n = last + 1;
    __m256 acc[3][4];
    for (int h = 0; h < H; h++)
        for (int c = 0; c < V; c++) acc[h][c] = _mm256_setzero_ps();
    for (int64_t j = first; j <= last; j++) {
        if (j % block_size == 0 && d0 == 0) prefetch_next_block(v_base, block_table, block_size, block_stride, row_stride, j, last, head_dim_v * 2);
        const uint16_t *row = row_at(v_base, block_table, block_size, block_stride, row_stride, j) + d0;
        __m256 vals[4];
        for (int c = 0; c < V; c++) vals[c] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 8 * c)));
        for (int h = 0; h < H; h++) {
            const __m256 p = _mm256_broadcast_ss(scores + (g0 + h) * n + j);
            for (int c = 0; c < V; c++) acc[h][c] = _mm256_fmadd_ps(p, vals[c], acc[h][c]);
        }
    }
    for (int h = 0; h < H; h++)
        for (int c = 0; c < V; c++) _mm256_storeu_ps(out + (g0 + h) * head_dim_v + d0 + 8 * c, acc[h][c]);
}

// The AVX-512 variant of attend_group_avx2: two rows in each 512-bit register (row j in the
// low half, j + 1 in the high) for the scores, sixteen values a register for the outputs. Each
// lane does what it does there, in the same order, so the same bits; half the instructions.

// scores_heads for rows in pairs: each pair's four partial sums per head in 512-bit registers,
// split into the rows' 256-bit sums for lane_sums8.
__attribute__((target("avx512f,avx2,fma,f16c"), always_inline))
static inline void scores_heads_512(const int H, const float *q, int64_t g0, int64_t head_dim, float scale, const uint16_t *k_base,
                                    const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                                    int64_t first, int64_t last, float *scores, float *maxv) {
    const int64_t n = last + 1;
    __m256 maxv8[3];
    for (int h = 0; h < H; h++) maxv8[h] = _mm256_set1_ps(-INFINITY);
    for (int64_t e0 = first; e0 <= last; e0 += 8) {
        const int64_t count = last + 1 - e0 < 8 ? last + 1 - e0 : 8;
        __m512 pairs[3][4];  // rows 2p and 2p + 1 of the eight
        for (int64_t r = 0; r < 8; r += 2) {
            if (r >= count) {  // past the end: lanes whose results are not used
                for (int h = 0; h < H; h++) pairs[h][r / 2] = _mm512_setzero_ps();
                continue;
            }
            const int64_t j = e0 + r;
            if (j % block_size == 0) prefetch_next_block(k_base, block_table, block_size, block_stride, row_stride, j, last, head_dim * 2);
            if ((j + 1) % block_size == 0) prefetch_next_block(k_base, block_table, block_size, block_stride, row_stride, j + 1, last, head_dim * 2);
            const uint16_t *ra = row_at(k_base, block_table, block_size, block_stride, row_stride, j);
            // Past the end, the second row repeats the first (its results are not used).
            const uint16_t *rb = r + 1 < count ? row_at(k_base, block_table, block_size, block_stride, row_stride, j + 1) : ra;
            __m512 s[3][4];
            for (int h = 0; h < H; h++)
                for (int c = 0; c < 4; c++) s[h][c] = _mm512_setzero_ps();
            for (int64_t i = 0; i < head_dim; i += 32) {
                for (int c = 0; c < 4; c++) {
                    const __m256i halves = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(ra + i + 8 * c))),
                                                                   _mm_loadu_si128((const __m128i *)(rb + i + 8 * c)), 1);
                    const __m512 k = _mm512_cvtph_ps(halves);
                    for (int h = 0; h < H; h++) {
                        const __m512 qq = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd((const double *)(q + (g0 + h) * head_dim + i + 8 * c))));
                        s[h][c] = _mm512_fmadd_ps(qq, k, s[h][c]);
                    }
                }
            }
            for (int h = 0; h < H; h++) pairs[h][r / 2] = _mm512_add_ps(_mm512_add_ps(s[h][0], s[h][1]), _mm512_add_ps(s[h][2], s[h][3]));
        }
        for (int h = 0; h < H; h++) {
            __m256 v[8];
            for (int p = 0; p < 4; p++) {
                v[2 * p] = _mm512_castps512_ps256(pairs[h][p]);
                v[2 * p + 1] = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(pairs[h][p]), 1));
            }
            const __m256 s8 = _mm256_mul_ps(lane_sums8(v), _mm256_set1_ps(scale));
            store_scores8(s8, scores + (g0 + h) * n, e0, count, &maxv8[h], &maxv[g0 + h]);
        }
    }
    for (int h = 0; h < H; h++) fold_max8(maxv8[h], &maxv[g0 + h]);
}

// values_heads sixteen values a register: output values [d0, d0 + 16·V) (V at most 4).
__attribute__((target("avx512f,avx2,fma,f16c"), always_inline))
static inline void values_heads_512(const int H, const int V, int64_t g0, int64_t d0, int64_t head_dim_v, const uint16_t *v_base,
                                    const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                                    int64_t first, int64_t last, const float *scores, float *out) {
    const int64_t n = last + 1;
    __m512 acc[3][4];
    for (int h = 0; h < H; h++)
        for (int c = 0; c < V; c++) acc[h][c] = _mm512_setzero_ps();
    for (int64_t j = first; j <= last; j++) {
        if (j % block_size == 0 && d0 == 0) prefetch_next_block(v_base, block_table, block_size, block_stride, row_stride, j, last, head_dim_v * 2);
        const uint16_t *row = row_at(v_base, block_table, block_size, block_stride, row_stride, j) + d0;
        __m512 vals[4];
        for (int c = 0; c < V; c++) vals[c] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 16 * c)));
        for (int h = 0; h < H; h++) {
            const __m512 p = _mm512_set1_ps(scores[(g0 + h) * n + j]);
            for (int c = 0; c < V; c++) acc[h][c] = _mm512_fmadd_ps(p, vals[c], acc[h][c]);
        }
    }
    for (int h = 0; h < H; h++)
        for (int c = 0; c < V; c++) _mm512_storeu_ps(out + (g0 + h) * head_dim_v + d0 + 16 * c, acc[h][c]);
}

// One step of each phase for heads [g0, g0 + H) (H at most 3), dispatched to the constant
// counts the kernels above take: the scores of every position; then output values from d0 on,
// as many as fit the registers (returned).
#define SCORES_ARGS q, g0, head_dim, scale, k_base, block_table, block_size, block_stride, row_stride, first, last, scores, maxv
#define VALUES_ARGS g0, d0, head_dim_v, v_base, block_table, block_size, block_stride, row_stride, first, last, scores, out
#define BY_H(H, F, ...) do { if ((H) == 3) F(3, __VA_ARGS__); else if ((H) == 2) F(2, __VA_ARGS__); else F(1, __VA_ARGS__); } while (0)
#define BY_V(h, V, F) do { switch (V) { case 4: F(h, 4, VALUES_ARGS); break; case 3: F(h, 3, VALUES_ARGS); break; \
                                       case 2: F(h, 2, VALUES_ARGS); break; default: F(h, 1, VALUES_ARGS); } } while (0)
#define VALUES_256(h, _) BY_V(h, V, values_heads)
#define VALUES_512(h, _) BY_V(h, V, values_heads_512)
#define STEP_PARAMS int H, const float *q, int64_t g0, int64_t d0, int64_t head_dim, int64_t head_dim_v, float scale, \
                    const uint16_t *k_base, const uint16_t *v_base, const int32_t *block_table, int64_t block_size, \
                    int64_t block_stride, int64_t row_stride, int64_t first, int64_t last, float *scores, float *maxv, float *out

__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void scores_step_avx2(STEP_PARAMS) { BY_H(H, scores_heads, SCORES_ARGS); }
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline int64_t values_step_avx2(STEP_PARAMS) {  // eight values a register, up to 32
    const int V = head_dim_v - d0 < 32 ? (int)((head_dim_v - d0) / 8) : 4;
    BY_H(H, VALUES_256, 0);
    return 8 * V;
}
__attribute__((target("avx512f,avx2,fma,f16c"), always_inline))
static inline void scores_step_avx512(STEP_PARAMS) { BY_H(H, scores_heads_512, SCORES_ARGS); }
__attribute__((target("avx512f,avx2,fma,f16c"), always_inline))
static inline int64_t values_step_avx512(STEP_PARAMS) {  // sixteen values a register, up to 64; a last eight as AVX2 takes them
    if (head_dim_v - d0 < 16) return values_step_avx2(H, q, g0, d0, head_dim, head_dim_v, scale, k_base, v_base, block_table,
                                                      block_size, block_stride, row_stride, first, last, scores, maxv, out);
    const int V = head_dim_v - d0 >= 64 ? 4 : (int)((head_dim_v - d0) / 16);
    BY_H(H, VALUES_512, 0);
    return 16 * V;
}

// The vector attention of ck_attend_group, one function per variant, with that variant's steps:
// the heads three at a time (a constant count each, so that the sums stay in registers).
#define ATTEND_GROUP(name, isa, scores_step, values_step)                                                                       \
    __attribute__((target(isa))) static void name(                                                                               \
        const float *q, int64_t groups, int64_t head_dim, int64_t head_dim_v, float scale, const uint16_t *k_base,               \
        const uint16_t *v_base, const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,        \
        int64_t first, int64_t last, float *scores, float *out) {                                                                \
        float maxv[256];                                                                                                         \
        for (int64_t g = 0; g < groups; g++) maxv[g] = -INFINITY;                                                                \
        prefetch_first_rows(k_base, block_table, block_size, block_stride, row_stride, first, last, head_dim * 2);                \
        for (int64_t g0 = 0; g0 < groups; g0 += 3)                                                                               \
            scores_step(groups - g0 < 3 ? (int)(groups - g0) : 3, q, g0, 0, head_dim, head_dim_v, scale, k_base, v_base,         \
                        block_table, block_size, block_stride, row_stride, first, last, scores, maxv, out);                      \
        softmax_scores_avx2(scores, groups, last + 1, first, last, maxv);                                                        \
        prefetch_first_rows(v_base, block_table, block_size, block_stride, row_stride, first, last, head_dim_v * 2);              \
        for (int64_t g0 = 0; g0 < groups; g0 += 3)                                                                               \
            for (int64_t d0 = 0; d0 < head_dim_v;)                                                                               \
                d0 += values_step(groups - g0 < 3 ? (int)(groups - g0) : 3, q, g0, d0, head_dim, head_dim_v, scale, k_base,      \
                                  v_base, block_table, block_size, block_stride, row_stride, first, last, scores, maxv, out);    \
    }
ATTEND_GROUP(attend_group_avx2, "avx2,fma,f16c", scores_step_avx2, values_step_avx2)
ATTEND_GROUP(attend_group_avx512, "avx512f,avx2,fma,f16c", scores_step_avx512, values_step_avx512)
#undef ATTEND_GROUP
#undef STEP_PARAMS
#undef VALUES_512
#undef VALUES_256
#undef BY_V
#undef BY_H
#undef VALUES_ARGS
#undef SCORES_ARGS
#endif

// Row by row, each row converted to floats once for all the heads: any head size.
static void attend_group_scalar(const float *q, int64_t groups, int64_t head_dim, int64_t head_dim_v, float scale,
                                const uint16_t *k_base, const uint16_t *v_base,
                                const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                                int64_t first, int64_t last, float *scores, float *out) {
    float row[1024], maxv[256], inv[256];
    const int64_t n = last + 1;
    for (int64_t g = 0; g < groups; g++) maxv[g] = -INFINITY;
    for (int64_t j = first; j <= last; j++) {
        const int64_t blk = block_table[j / block_size], slot = j % block_size;
        ck_fp16_to_fp32_row(k_base + blk * block_stride + slot * row_stride, row, head_dim);
        for (int64_t g = 0; g < groups; g++) {
            const float s = ck_dot_f32(q + g * head_dim, row, head_dim) * scale;
            scores[g * n + j] = s;
            if (s > maxv[g]) maxv[g] = s;
        }
    }
    softmax_scores(scores, groups, n, first, last, maxv, inv);
    memset(out, 0, (size_t)(groups * head_dim_v) * sizeof(float));
    for (int64_t j = first; j <= last; j++) {
        const int64_t blk = block_table[j / block_size], slot = j % block_size;
        ck_fp16_to_fp32_row(v_base + blk * block_stride + slot * row_stride, row, head_dim_v);
        for (int64_t g = 0; g < groups; g++) {
            const float p = scores[g * n + j] * inv[g];
            float *o = out + g * head_dim_v;
            for (int64_t d = 0; d < head_dim_v; d++) o[d] = fmaf(p, row[d], o[d]);
        }
    }
}

int ck_attend_variant_available(int variant) {
#if defined(__x86_64__)
    const uint32_t avx2 = CK_CPU_AVX2 | CK_CPU_FMA | CK_CPU_F16C, f = ck_cpu_features();
    if (variant == CK_ATTEND_AVX2) return (f & avx2) == avx2;
    if (variant == CK_ATTEND_AVX512) return (f & (avx2 | CK_CPU_AVX512F)) == (avx2 | CK_CPU_AVX512F);
#endif
    return variant == CK_ATTEND_SCALAR;
}

int ck_attend_group_variant(int variant, const float *q, int64_t groups, int64_t head_dim, int64_t head_dim_v, float scale,
                            const uint16_t *k_base, const uint16_t *v_base,
                            const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                            int64_t first, int64_t last, float *scores, float *out) {
    if (!ck_attend_variant_available(variant)) return -1;
#if defined(__x86_64__)
    if (variant != CK_ATTEND_SCALAR && head_dim % 32 == 0 && head_dim_v % 8 == 0 && head_dim <= 256 && head_dim_v <= 256 && groups <= 256) {
        if (variant == CK_ATTEND_AVX512)
            attend_group_avx512(q, groups, head_dim, head_dim_v, scale, k_base, v_base, block_table, block_size, block_stride,
                                row_stride, first, last, scores, out);
        else
            attend_group_avx2(q, groups, head_dim, head_dim_v, scale, k_base, v_base, block_table, block_size, block_stride,
                              row_stride, first, last, scores, out);
        return 0;
    }
#endif
    attend_group_scalar(q, groups, head_dim, head_dim_v, scale, k_base, v_base, block_table, block_size, block_stride,
                        row_stride, first, last, scores, out);
    return 0;
}

void ck_attend_group(const float *q, int64_t groups, int64_t head_dim, int64_t head_dim_v, float scale,
                     const uint16_t *k_base, const uint16_t *v_base,
                     const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                     int64_t first, int64_t last, float *scores, float *out) {
    const int best = ck_attend_variant_available(CK_ATTEND_AVX512) ? CK_ATTEND_AVX512  // the widest this CPU has
                     : ck_attend_variant_available(CK_ATTEND_AVX2) ? CK_ATTEND_AVX2 : CK_ATTEND_SCALAR;
    ck_attend_group_variant(best, q, groups, head_dim, head_dim_v, scale, k_base, v_base, block_table, block_size, block_stride,
                            row_stride, first, last, scores, out);
}
