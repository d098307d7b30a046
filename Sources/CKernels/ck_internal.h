#ifndef CK_INTERNAL_H
#define CK_INTERNAL_H
// Helpers shared by the kernel files (not part of the public header).
#include <stdint.h>

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml: get_scale_min_k4).
static inline void ck_scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}
#endif
