#ifndef CKERNELS_H
#define CKERNELS_H

// Hot loops in C for the intrinsics Swift cannot reach. Flat functions prefixed `ck_`,
// each SIMD variant compiled with its own target attribute and chosen at run time, so one
// binary runs on any x86-64 and the scalar paths still build on arm64.

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

#ifdef __cplusplus
}
#endif
#endif
