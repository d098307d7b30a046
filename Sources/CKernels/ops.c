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
// ck_attend_group with the half-precision keys and values of each 16 positions converted
// once for all the heads of the group (the next 16 fetched meanwhile), the scores of eight
// positions at a time (dots8), and the value sums eight lanes at a time, kept in registers (a
// constant count per weigh_rows call; a variable one left them on the stack): the same
// operations on the same values (each dot product in ck_dot_f32's order; a multiply, then an
// add, never fused; each head's output still summed in position order), so the same bits.
// For head_dim a multiple of 32, head_dim_v of 8, both at most 256.
enum { ATTEND_CHUNK = 16 };

// softmax_scores eight positions at a time (v_expf lane by lane as ck_expf; the sums in sum8's
// lanes), the tail by exp_into_lanes as there.
__attribute__((target("avx2,fma")))
static void softmax_scores_avx2(float *scores, int64_t groups, int64_t n, int64_t first, int64_t last, const float *maxv, float *inv) {
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
        inv[g] = 1.0f / sum8(lanes);
    }
}

// Rows j0..j1 − 1 (width halves each) to floats: one division for the chunk, then slot by slot
// (a division per row took a third of the kernel's time).
__attribute__((target("avx2,f16c")))
static void convert_rows(const uint16_t *base, const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                         int64_t j0, int64_t j1, int64_t width, float *rows) {
    int64_t blk = j0 / block_size, slot = j0 % block_size;
    for (int64_t j = j0; j < j1; j++) {
        const uint16_t *r = base + block_table[blk] * block_stride + slot * row_stride;
        for (int64_t d = 0; d < width; d += 8)
            _mm256_storeu_ps(rows + (j - j0) * width + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + d))));
        if (++slot == block_size) { slot = 0; blk++; }
    }
}

// The end of the chunk of positions that starts at j, in a context of n.
static inline int64_t chunk_end(int64_t j, int64_t n) { return j + ATTEND_CHUNK <= n ? j + ATTEND_CHUNK : n; }

// Asks for positions [j0, j1)'s rows (width halves each) ahead of their use: each chunk's
// while the one before is worked on (the rows of a long context come from memory, not the
// cache; without this, half of the kernel's time went to waiting on the conversion's loads).
__attribute__((target("avx2")))
static void prefetch_rows(const uint16_t *base, const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                          int64_t j0, int64_t j1, int64_t width) {
    int64_t blk = j0 / block_size, slot = j0 % block_size;
    for (int64_t j = j0; j < j1; j++) {
        const char *r = (const char *)(base + block_table[blk] * block_stride + slot * row_stride);
        for (int64_t b = 0; b < width * 2; b += 64) _mm_prefetch(r + b, _MM_HINT_T0);
        if (++slot == block_size) { slot = 0; blk++; }
    }
}

// o[0..8·vecs) (zero first if start) += Σ over the count rows, in order, of p[j] · inv · row j.
__attribute__((target("avx2"), always_inline))
static inline void weigh_rows(const int vecs, const float *p, float inv, const float *rows, int64_t width, int64_t count, float *o, int start) {
    __m256 acc[8];
    for (int k = 0; k < vecs; k++) acc[k] = start ? _mm256_setzero_ps() : _mm256_loadu_ps(o + 8 * k);
    for (int64_t j = 0; j < count; j++) {
        const __m256 w = _mm256_set1_ps(p[j] * inv);
        for (int k = 0; k < vecs; k++) acc[k] = _mm256_add_ps(acc[k], _mm256_mul_ps(w, _mm256_loadu_ps(rows + j * width + 8 * k)));
    }
    for (int k = 0; k < vecs; k++) _mm256_storeu_ps(o + 8 * k, acc[k]);
}

// The dot products of q with eight rows (`width` floats apart, `width` a multiple of 32), as
// ck_dot_f32_avx2 computes each one: per row four partial sums over groups of 32, combined
// (s0 + s1) + (s2 + s3), then the lanes ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)) —
// those lane sums done for the eight rows together (a transpose with adds), not one by one.
__attribute__((target("avx2,fma"), always_inline))
static inline __m256 dots8(const float *q, const float *const rows[8], int64_t width) {
    __m256 v[8];
    for (int r = 0; r < 8; r++) {
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        for (int64_t i = 0; i < width; i += 32) {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(rows[r] + i), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(rows[r] + i + 8), s1);
            s2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), _mm256_loadu_ps(rows[r] + i + 16), s2);
            s3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), _mm256_loadu_ps(rows[r] + i + 24), s3);
        }
        v[r] = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    }
    // w[r] = (lo + hi of row r | lo + hi of row r + 4): (v0 + v4, v1 + v5, v2 + v6, v3 + v7) each.
    __m256 w[4];
    for (int r = 0; r < 4; r++)
        w[r] = _mm256_add_ps(_mm256_permute2f128_ps(v[r], v[r + 4], 0x20), _mm256_permute2f128_ps(v[r], v[r + 4], 0x31));
    // Lanes 0 + 2 and 1 + 3 of each row, then those two: rows 0..3 in the low half, 4..7 in the high.
    const __m256 p01 = _mm256_add_ps(_mm256_shuffle_ps(w[0], w[1], 0x44), _mm256_shuffle_ps(w[0], w[1], 0xEE));
    const __m256 p23 = _mm256_add_ps(_mm256_shuffle_ps(w[2], w[3], 0x44), _mm256_shuffle_ps(w[2], w[3], 0xEE));
    return _mm256_hadd_ps(p01, p23);
}

__attribute__((target("avx2,fma,f16c")))
static void attend_group_avx2(const float *q, int64_t groups, int64_t head_dim, int64_t head_dim_v, float scale,
                              const uint16_t *k_base, const uint16_t *v_base,
                              const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                              int64_t first, int64_t last, float *scores, float *out) {
    float maxv[256], inv[256];
    float rows[ATTEND_CHUNK * 256] __attribute__((aligned(32)));
    const int64_t n = last + 1;
    __m256 maxv8[256];  // the scores' maximum by lane, for whole groups of eight
    for (int64_t g = 0; g < groups; g++) maxv[g] = -INFINITY, maxv8[g] = _mm256_set1_ps(-INFINITY);
    for (int64_t j0 = first; j0 <= last; j0 += ATTEND_CHUNK) {
        const int64_t j1 = chunk_end(j0, n);
        convert_rows(k_base, block_table, block_size, block_stride, row_stride, j0, j1, head_dim, rows);
        if (j1 < n) prefetch_rows(k_base, block_table, block_size, block_stride, row_stride, j1, chunk_end(j1, n), head_dim);
        else prefetch_rows(v_base, block_table, block_size, block_stride, row_stride, first, chunk_end(first, n), head_dim_v);
        for (int64_t e0 = j0; e0 < j1; e0 += 8) {
            // Eight rows a time; past the chunk's end, row 0 again (its results unused).
            const float *r8[8];
            for (int r = 0; r < 8; r++) r8[r] = rows + (e0 + r < j1 ? e0 + r - j0 : 0) * head_dim;
            const int64_t count = j1 - e0 < 8 ? j1 - e0 : 8;
            for (int64_t g = 0; g < groups; g++) {
                const __m256 s8 = _mm256_mul_ps(dots8(q + g * head_dim, r8, head_dim), _mm256_set1_ps(scale));
                if (count == 8) {
                    _mm256_storeu_ps(scores + g * n + e0, s8);
                    maxv8[g] = _mm256_max_ps(s8, maxv8[g]);  // a NaN score is passed over, as below
                    continue;
                }
                float s[8];
                _mm256_storeu_ps(s, s8);
                for (int64_t r = 0; r < count; r++) {
                    scores[g * n + e0 + r] = s[r];
                    if (s[r] > maxv[g]) maxv[g] = s[r];
                }
            }
        }
    }
    for (int64_t g = 0; g < groups; g++) {
        float m[8];
        _mm256_storeu_ps(m, maxv8[g]);
        for (int r = 0; r < 8; r++) if (m[r] > maxv[g]) maxv[g] = m[r];
    }
    softmax_scores_avx2(scores, groups, n, first, last, maxv, inv);
    // Each head's output 64 values at a time, held in registers across a chunk's positions.
    for (int64_t j0 = first; j0 <= last; j0 += ATTEND_CHUNK) {
        const int64_t j1 = chunk_end(j0, n);
        convert_rows(v_base, block_table, block_size, block_stride, row_stride, j0, j1, head_dim_v, rows);
        if (j1 < n) prefetch_rows(v_base, block_table, block_size, block_stride, row_stride, j1, chunk_end(j1, n), head_dim_v);
        for (int64_t g = 0; g < groups; g++) {
            for (int64_t d0 = 0; d0 < head_dim_v; d0 += 64) {
                const float *p = scores + g * n + j0;
                float *o = out + g * head_dim_v + d0;
                const int vecs = (int)((head_dim_v - d0 < 64 ? head_dim_v - d0 : 64) / 8);
                // A constant count each, so that the sums stay in registers.
                switch (vecs) {
                case 8: weigh_rows(8, p, inv[g], rows + d0, head_dim_v, j1 - j0, o, j0 == first); break;
                case 4: weigh_rows(4, p, inv[g], rows + d0, head_dim_v, j1 - j0, o, j0 == first); break;
                default:
                    for (int k = 0; k < vecs; k++) weigh_rows(1, p, inv[g], rows + d0 + 8 * k, head_dim_v, j1 - j0, o + 8 * k, j0 == first);
                }
            }
        }
    }
}
#endif

void ck_attend_group(const float *q, int64_t groups, int64_t head_dim, int64_t head_dim_v, float scale,
                     const uint16_t *k_base, const uint16_t *v_base,
                     const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                     int64_t first, int64_t last, float *scores, float *out) {
#if defined(__x86_64__)
    const uint32_t need = CK_CPU_AVX2 | CK_CPU_FMA | CK_CPU_F16C;
    if ((ck_cpu_features() & need) == need && head_dim % 32 == 0 && head_dim_v % 8 == 0 && head_dim <= 256 && head_dim_v <= 256 && groups <= 256) {
        attend_group_avx2(q, groups, head_dim, head_dim_v, scale, k_base, v_base, block_table, block_size, block_stride,
                          row_stride, first, last, scores, out);
        return;
    }
#endif
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
            for (int64_t d = 0; d < head_dim_v; d++) o[d] += p * row[d];
        }
    }
}
