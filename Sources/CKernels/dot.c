#include "CKernels.h"

// One fixed reduction order for every caller (see CKernels.h): 32 partial sums over full
// groups of 32 elements, combined pairwise, then the tail in order.

static float dot_scalar(const float *a, const float *b, int64_t n) {
    float acc[32] = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 32; k++) acc[k] += a[i + k] * b[i + k];
    // reduce 32 → 8 as the vector version does: (v0 + v1) + (v2 + v3), lane by lane
    float v[8];
    for (int k = 0; k < 8; k++) v[k] = (acc[k] + acc[8 + k]) + (acc[16 + k] + acc[24 + k]);
    float s = ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

#if defined(__x86_64__)
#include <immintrin.h>
// The four partial sums to one float, in the order dot_scalar uses.
__attribute__((target("avx2,fma"))) static inline float reduce4(__m256 s0, __m256 s1, __m256 s2, __m256 s3) {
    __m256 v = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 q = _mm_add_ps(lo, hi);                 // (v0+v4, v1+v5, v2+v6, v3+v7)
    __m128 sh = _mm_movehl_ps(q, q);               // (v2+v6, v3+v7, ...)
    __m128 p = _mm_add_ps(q, sh);                  // (v0+v4+v2+v6, v1+v5+v3+v7)
    return _mm_cvtss_f32(p) + _mm_cvtss_f32(_mm_shuffle_ps(p, p, 1));
}

__attribute__((target("avx2,fma")))
float ck_dot_f32_avx2(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    float s = reduce4(s0, s1, s2, s3);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

#endif

float ck_dot_f32(const float *a, const float *b, int64_t n) {
#if defined(__x86_64__)
    const uint32_t need = CK_CPU_AVX2 | CK_CPU_FMA;
    if ((ck_cpu_features() & need) == need) return ck_dot_f32_avx2(a, b, n);
#endif
    return dot_scalar(a, b, n);
}
