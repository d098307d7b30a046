#ifndef CKERNELS_H
#define CKERNELS_H

// Hot loops in C for the intrinsics Swift cannot reach. Flat functions prefixed `ck_`,
// each SIMD variant compiled with its own target attribute and chosen at run time, so one
// binary runs on any x86-64 and the scalar paths still build on arm64.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CPU features that select kernel variants.
enum {
    CK_CPU_AVX2 = 1 << 0,
    CK_CPU_FMA = 1 << 1,
    CK_CPU_F16C = 1 << 2,
    CK_CPU_AVX512F = 1 << 3,
    CK_CPU_AVX512BW = 1 << 4,
    CK_CPU_AVX512VL = 1 << 5,
    CK_CPU_AVX512VNNI = 1 << 6,
    CK_CPU_AVXVNNI = 1 << 7,
};

/// The features of the CPU running this process (a bit set of CK_CPU_*), asked of CPUID once.
uint32_t ck_cpu_features(void);

/// IEEE half and bfloat16 to float.
float ck_fp16_to_fp32(uint16_t h);
uint16_t ck_fp32_to_fp16(float f);
void ck_fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n);
void ck_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n);

/// Dequantizes `n` elements (a whole number of blocks) of ggml type `type` (ggml numbering)
/// into floats. Returns 0, or -1 for a type it does not know.
int ck_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/// Dot product of two float vectors in a fixed order: 32 lanes (four 8-wide partial sums)
/// over full groups of 32, then the tail in order, then a fixed reduction. The same inputs
/// always give the same bits, whatever the caller's batch, so results are batch-invariant.
float ck_dot_f32(const float *a, const float *b, int64_t n);

/// y[t * ldy + r] = dot(dequant(W row r), x[t * n ..]) for rows [r0, r1) and tokens [0, nt):
/// each weight row is dequantized once into `scratch` (n floats) and reused for every token.
int ck_matmul_rows(uint32_t type, const void *w, size_t row_bytes, int64_t n,
                   const float *x, int64_t nt, float *y, int64_t ldy,
                   int64_t r0, int64_t r1, float *scratch);

#ifdef __cplusplus
}
#endif
#endif
