#define _GNU_SOURCE
#include "CKernels.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static uint32_t detect(void) {
    uint32_t a, b, c, d, features = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1;
    int fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave) return 0;
    uint64_t xcr0 = xgetbv0();
    int ymm = (xcr0 & 0x6) == 0x6;            // SSE and AVX state enabled by the OS
    int zmm = (xcr0 & 0xE6) == 0xE6;          // plus opmask and upper ZMM state
    if (!ymm) return 0;
    if (fma) features |= CK_CPU_FMA;
    if (f16c) features |= CK_CPU_F16C;
    if (__get_cpuid_max(0, 0) < 7) return features;
    __cpuid_count(7, 0, a, b, c, d);
    if ((b >> 5) & 1) features |= CK_CPU_AVX2;
    if (zmm) {
        if ((b >> 16) & 1) features |= CK_CPU_AVX512F;
        if ((b >> 30) & 1) features |= CK_CPU_AVX512BW;
        if ((b >> 31) & 1) features |= CK_CPU_AVX512VL;
        if ((c >> 11) & 1) features |= CK_CPU_AVX512VNNI;
    }
    __cpuid_count(7, 1, a, b, c, d);
    if ((a >> 4) & 1) features |= CK_CPU_AVXVNNI;
    return features;
}
#else
static uint32_t detect(void) { return 0; }
#endif

uint32_t ck_cpu_features(void) {
    static uint32_t cached = 0xFFFFFFFFu;
    if (cached == 0xFFFFFFFFu) cached = detect();
    return cached;
}

#if defined(__linux__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
int32_t ck_thread_id(void) { return (int32_t)syscall(SYS_gettid); }

_Static_assert(sizeof(cpu_set_t) == CK_AFFINITY_BYTES, "CK_AFFINITY_BYTES is the size of cpu_set_t");

int ck_pin_to_one_cpu(void *saved) {
    cpu_set_t now, one;
    if (sched_getaffinity(0, sizeof now, &now) != 0) return -1;
    memcpy(saved, &now, sizeof now);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &now)) continue;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        return sched_setaffinity(0, sizeof one, &one) == 0 ? cpu : -1;
    }
    return -1;
}

int ck_restore_affinity(const void *saved) { return sched_setaffinity(0, sizeof(cpu_set_t), (const cpu_set_t *)saved); }

int ck_usable_cpus(void) {
    cpu_set_t now;
    if (sched_getaffinity(0, sizeof now, &now) != 0) return -1;
    return CPU_COUNT(&now);
}
#else
int32_t ck_thread_id(void) { return -1; }
int ck_pin_to_one_cpu(void *saved) { (void)saved; return -1; }
int ck_restore_affinity(const void *saved) { (void)saved; return -1; }
int ck_usable_cpus(void) { return -1; }
#endif
