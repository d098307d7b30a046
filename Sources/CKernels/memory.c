#include "CKernels.h"

// Reads memory as fast as the core can, for measuring the machine's read bandwidth (the
// bound that decode, which reads every weight once per token, cannot beat).

// 64-bit words from `i` on, then the last bytes one at a time.
static uint64_t read_scalar(const uint8_t *p, size_t i, size_t n) {
    uint64_t sum = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        __builtin_memcpy(&v, p + i, 8);
        sum += v;
    }
    for (; i < n; i++) sum += p[i];
    return sum;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n) {
    // Four independent accumulators, so the loads are the only limit.
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, s);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + read_scalar(p, i, n);
}
#endif

uint64_t ck_read_sum(const void *data, size_t bytes) {
    const uint8_t *p = (const uint8_t *)data;
#if defined(__x86_64__)
    if ((ck_cpu_features() & CK_CPU_AVX2) && ((uintptr_t)p & 31) == 0) return read_avx2(p, bytes);
#endif
    return read_scalar(p, 0, bytes);
}
