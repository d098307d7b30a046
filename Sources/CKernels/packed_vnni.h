// The tile kernels of packed.c with VNNI's vpdpbusd: unsigned bytes × signed bytes, four
// products summed into each 32-bit lane and added to it, exactly (no saturation). One
// instruction does what maddubs, madd and an add do on AVX2, so the integer sums S are the
// same numbers, the float arithmetic after them is the same, and the results the same bits.
//
// Included by packed.c once per encoding of the instruction, with VNNI_TARGET (the target
// features) and VNNI_SUFFIX (of the variant's function names) defined: AVX-VNNI (VEX; Intel
// since Alder Lake, AMD since Zen 5) and AVX512-VNNI with AVX512VL (EVEX; Intel servers since
// Cascade Lake, AMD Zen 4). The builtin is the same for both. With VNNI_ZMM (the AVX-512
// inclusion), every type takes two tiles at once in 512-bit registers above CK_PACKED_FEW_ROWS
// activation rows (ck_internal.h).

#define VT __attribute__((target(VNNI_TARGET)))
#define VNNI_NAME(base) CAT(base, VNNI_SUFFIX)
#define DPBUSD(acc, u, s) ((__m256i)__builtin_ia32_vpdpbusd256((__v8si)(acc), (__v8si)(u), (__v8si)(s)))

VT INLINE void VNNI_NAME(tile_q4_1)(const uint8_t *tile, const uint8_t **a, const int nt, int64_t nb,
                                    const float *da, const float *sa, __m256 *acc, int fetch) {
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 160) {
        prefetch_block(tile, 160, fetch);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + 16)));
        __m256i lo[4], hi[4];
        q4_1_nibbles(tile, lo, hi);
        for (int t = 0; t < nt; t++) {
            int32_t x[8];
            memcpy(x, a[t] + i * 36 + 4, 32);
            // Two chains (low and high nibbles), so one activation row does not wait on one.
            __m256i s0 = DPBUSD(_mm256_setzero_si256(), lo[0], _mm256_set1_epi32(x[0]));
            __m256i s1 = DPBUSD(_mm256_setzero_si256(), hi[0], _mm256_set1_epi32(x[4]));
            for (int g = 1; g < 4; g++) {
                s0 = DPBUSD(s0, lo[g], _mm256_set1_epi32(x[g]));
                s1 = DPBUSD(s1, hi[g], _mm256_set1_epi32(x[4 + g]));
            }
            const __m256 sum = _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(da[t * nb + i])), sum, acc[t]);
            acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(sa[t * nb + i]), acc[t]);
        }
    }
}

// Q8_0: the signed quants as unsigned ones, q + 128 (the top bit flipped), whose sums with a
// exceed the signed ones by 128 · Σ a over the block (sum128): each sum starts from −that.
VT INLINE void VNNI_NAME(tile_q8_0)(const uint8_t *tile, const uint8_t **a, const int nt, int64_t nb,
                                    const float *da, const int32_t *sum128, __m256 *acc, int fetch) {
    const __m256i top = _mm256_set1_epi8((char)0x80);
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 272) {
        prefetch_block(tile, 272, fetch);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        __m256i s[4];
        for (int t = 0; t < nt; t++) s[t] = _mm256_set1_epi32(-sum128[t * nb + i]);
#pragma clang loop unroll(full)
        for (int g = 0; g < 8; g++) {
            const __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(tile + 16 + 32 * g)), top);
            for (int t = 0; t < nt; t++) {
                int32_t x;
                memcpy(&x, a[t] + i * 34 + 2 + 4 * g, 4);
                s[t] = DPBUSD(s[t], u, _mm256_set1_epi32(x));
            }
        }
        for (int t = 0; t < nt; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(da[t * nb + i])), _mm256_cvtepi32_ps(s[t]), acc[t]);
    }
}

VT INLINE void VNNI_NAME(tile_q5_0)(const uint8_t *tile, const uint8_t **a, const int nt, int64_t nb,
                                    const float *da, const int32_t *sum16, __m256 *acc, int fetch) {
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 176) {
        prefetch_block(tile, 176, fetch);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        __m256i lo[4], hi[4];
        q5_0_quants(tile, lo, hi);
        for (int t = 0; t < nt; t++) {
            int32_t x[8];
            memcpy(x, a[t] + i * 34 + 2, 32);
            __m256i s0 = DPBUSD(_mm256_set1_epi32(-sum16[t * nb + i]), lo[0], _mm256_set1_epi32(x[0]));
            __m256i s1 = DPBUSD(_mm256_setzero_si256(), hi[0], _mm256_set1_epi32(x[4]));
            for (int g = 1; g < 4; g++) {
                s0 = DPBUSD(s0, lo[g], _mm256_set1_epi32(x[g]));
                s1 = DPBUSD(s1, hi[g], _mm256_set1_epi32(x[4 + g]));
            }
            const __m256 sum = _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(da[t * nb + i])), sum, acc[t]);
        }
    }
}

// Q4_K: each sub-block's sum of products in 32 bits, then times its scale (the AVX2 kernel
// multiplies the 16-bit sums by the scale in madd: the same integers).
VT INLINE void VNNI_NAME(tile_q4_K)(const uint8_t *tile, const uint8_t **a, const int32_t *min_pairs, const int nt, int64_t nb, __m256 *acc, int fetch) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 1184) {
        __m256i s[4];
        for (int t = 0; t < nt; t++) s[t] = _mm256_setzero_si256();
#pragma clang loop unroll(disable)
        for (int jp = 0; jp < 4; jp++) {
            __m256i raw[8];
#pragma clang loop unroll(full)
            for (int g = 0; g < 8; g++) raw[g] = _mm256_loadu_si256((const __m256i *)(tile + 160 + 32 * (8 * jp + g)));
#pragma clang loop unroll(full)
            for (int half = 0; half < 2; half++) {
                const int j = 2 * jp + half;
                prefetch_step(tile, 1184, j, 8, 3, fetch);
                const __m256i scale = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(tile + 32 + 8 * j)));
                __m256i q[8];
#pragma clang loop unroll(full)
                for (int g = 0; g < 8; g++) q[g] = _mm256_and_si256(half ? _mm256_srli_epi16(raw[g], 4) : raw[g], m4);
                for (int t = 0; t < nt; t++) {
                    const uint8_t *x8 = a[t] + i * 292 + 4 + 32 * j;
                    int32_t x[8];
                    memcpy(x, x8, 32);
                    __m256i p0 = DPBUSD(_mm256_setzero_si256(), q[0], _mm256_set1_epi32(x[0]));
                    __m256i p1 = DPBUSD(_mm256_setzero_si256(), q[1], _mm256_set1_epi32(x[1]));
#pragma clang loop unroll(full)
                    for (int g = 2; g < 8; g += 2) {
                        p0 = DPBUSD(p0, q[g], _mm256_set1_epi32(x[g]));
                        p1 = DPBUSD(p1, q[g + 1], _mm256_set1_epi32(x[g + 1]));
                    }
                    s[t] = _mm256_add_epi32(s[t], _mm256_mullo_epi32(_mm256_add_epi32(p0, p1), scale));
                }
            }
        }
        q4_K_scale(tile, a, min_pairs, nt, nb, i, s, acc);
    }
}

#ifdef VNNI_ZMM
// Two tiles side by side: the tile at `tile` in the low half of a 512-bit register (rows 0–7),
// the next one (`apart` bytes on) in the high half (rows 8–15). A lane does the arithmetic of
// the one-tile kernel's lane, so the results are the same bits; the activation bytes are
// broadcast to all sixteen lanes by the instruction itself.
VT INLINE __m512i pair_bytes(const uint8_t *tile, size_t apart) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)tile)), _mm256_loadu_si256((const __m256i *)(tile + apart)), 1);
}

// The eight halves at `tile` and the eight at tile + apart, as sixteen floats.
VT INLINE __m512 pair_halves(const uint8_t *tile, size_t apart) {
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)tile)), _mm_loadu_si128((const __m128i *)(tile + apart)), 1);
    return _mm512_cvtph_ps(h);
}

VT INLINE void pair_q4_1(const uint8_t *tile, size_t apart, const uint8_t **a, const int nt, int64_t nb,
                         const float *da, const float *sa, __m512 *acc, int fetch) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 160) {
        prefetch_block(tile, 160, fetch);
        prefetch_block(tile + apart, 160, fetch);
        const __m512 dw = pair_halves(tile, apart), mw = pair_halves(tile + 16, apart);
        __m512i lo[4], hi[4];
        for (int g = 0; g < 4; g++) {
            const __m512i q = pair_bytes(tile + 32 + 32 * g, apart);
            lo[g] = _mm512_and_si512(q, m4);
            hi[g] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        }
        for (int t = 0; t < nt; t++) {
            int32_t x[8];
            memcpy(x, a[t] + i * 36 + 4, 32);
            __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[0], _mm512_set1_epi32(x[0]));
            __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[0], _mm512_set1_epi32(x[4]));
            for (int g = 1; g < 4; g++) {
                s0 = _mm512_dpbusd_epi32(s0, lo[g], _mm512_set1_epi32(x[g]));
                s1 = _mm512_dpbusd_epi32(s1, hi[g], _mm512_set1_epi32(x[4 + g]));
            }
            const __m512 sum = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(da[t * nb + i])), sum, acc[t]);
            acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(sa[t * nb + i]), acc[t]);
        }
    }
}

VT INLINE void pair_q8_0(const uint8_t *tile, size_t apart, const uint8_t **a, const int nt, int64_t nb,
                         const float *da, const int32_t *sum128, __m512 *acc, int fetch) {
    const __m512i top = _mm512_set1_epi8((char)0x80);
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 272) {
        prefetch_block(tile, 272, fetch);
        prefetch_block(tile + apart, 272, fetch);
        const __m512 dw = pair_halves(tile, apart);
        __m512i s[4];
        for (int t = 0; t < nt; t++) s[t] = _mm512_set1_epi32(-sum128[t * nb + i]);
#pragma clang loop unroll(full)
        for (int g = 0; g < 8; g++) {
            const __m512i u = _mm512_xor_si512(pair_bytes(tile + 16 + 32 * g, apart), top);
            for (int t = 0; t < nt; t++) {
                int32_t x;
                memcpy(&x, a[t] + i * 34 + 2 + 4 * g, 4);
                s[t] = _mm512_dpbusd_epi32(s[t], u, _mm512_set1_epi32(x));
            }
        }
        for (int t = 0; t < nt; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(da[t * nb + i])), _mm512_cvtepi32_ps(s[t]), acc[t]);
    }
}

// Q5_0's quants of two tiles, as q5_0_quants makes them for one.
VT INLINE void pair_q5_0_quants(const uint8_t *tile, size_t apart, __m512i lo[4], __m512i hi[4]) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), bit4 = _mm512_set1_epi8(0x10);
    const __m512i h = pair_bytes(tile + 16, apart);
#pragma clang loop unroll(full)
    for (int g = 0; g < 4; g++) {
        const __m512i q = pair_bytes(tile + 48 + 32 * g, apart);
        const __m512i hl = 2 * g <= 4 ? _mm512_slli_epi16(h, 4 - 2 * g) : _mm512_srli_epi16(h, 2 * g - 4);
        const __m512i hh = 2 * g + 1 <= 4 ? _mm512_slli_epi16(h, 3 - 2 * g) : _mm512_srli_epi16(h, 2 * g - 3);
        lo[g] = _mm512_or_si512(_mm512_and_si512(q, m4), _mm512_and_si512(hl, bit4));
        hi[g] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(q, 4), m4), _mm512_and_si512(hh, bit4));
    }
}

VT INLINE void pair_q5_0(const uint8_t *tile, size_t apart, const uint8_t **a, const int nt, int64_t nb,
                         const float *da, const int32_t *sum16, __m512 *acc, int fetch) {
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 176) {
        prefetch_block(tile, 176, fetch);
        prefetch_block(tile + apart, 176, fetch);
        const __m512 dw = pair_halves(tile, apart);
        __m512i lo[4], hi[4];
        pair_q5_0_quants(tile, apart, lo, hi);
        for (int t = 0; t < nt; t++) {
            int32_t x[8];
            memcpy(x, a[t] + i * 34 + 2, 32);
            __m512i s0 = _mm512_dpbusd_epi32(_mm512_set1_epi32(-sum16[t * nb + i]), lo[0], _mm512_set1_epi32(x[0]));
            __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[0], _mm512_set1_epi32(x[4]));
            for (int g = 1; g < 4; g++) {
                s0 = _mm512_dpbusd_epi32(s0, lo[g], _mm512_set1_epi32(x[g]));
                s1 = _mm512_dpbusd_epi32(s1, hi[g], _mm512_set1_epi32(x[4 + g]));
            }
            const __m512 sum = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(da[t * nb + i])), sum, acc[t]);
        }
    }
}

VT INLINE void pair_q4_K(const uint8_t *tile, size_t apart, const uint8_t **a, const int32_t *min_pairs, const int nt, int64_t nb, __m512 *acc, int fetch) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 1184) {
        __m512i s[4];
        for (int t = 0; t < nt; t++) s[t] = _mm512_setzero_si512();
#pragma clang loop unroll(disable)
        for (int jp = 0; jp < 4; jp++) {
            __m512i raw[8];
#pragma clang loop unroll(full)
            for (int g = 0; g < 8; g++) raw[g] = pair_bytes(tile + 160 + 32 * (8 * jp + g), apart);
#pragma clang loop unroll(full)
            for (int half = 0; half < 2; half++) {
                const int j = 2 * jp + half;
                prefetch_step(tile, 1184, j, 8, 3, fetch);
                prefetch_step(tile + apart, 1184, j, 8, 3, fetch);
                const __m128i sc = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(tile + 32 + 8 * j)), _mm_loadl_epi64((const __m128i *)(tile + apart + 32 + 8 * j)));
                const __m512i scale = _mm512_cvtepu8_epi32(sc);
                __m512i q[8];
#pragma clang loop unroll(full)
                for (int g = 0; g < 8; g++) q[g] = _mm512_and_si512(half ? _mm512_srli_epi16(raw[g], 4) : raw[g], m4);
                for (int t = 0; t < nt; t++) {
                    int32_t x[8];
                    memcpy(x, a[t] + i * 292 + 4 + 32 * j, 32);
                    __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[0], _mm512_set1_epi32(x[0]));
                    __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[1], _mm512_set1_epi32(x[1]));
#pragma clang loop unroll(full)
                    for (int g = 2; g < 8; g += 2) {
                        p0 = _mm512_dpbusd_epi32(p0, q[g], _mm512_set1_epi32(x[g]));
                        p1 = _mm512_dpbusd_epi32(p1, q[g + 1], _mm512_set1_epi32(x[g + 1]));
                    }
                    s[t] = _mm512_add_epi32(s[t], _mm512_mullo_epi32(_mm512_add_epi32(p0, p1), scale));
                }
            }
        }
        const __m512 dw = pair_halves(tile, apart), dmw = pair_halves(tile + 16, apart);
        __m512i mins[4];
        for (int k = 0; k < 4; k++) mins[k] = _mm512_inserti64x4(_mm512_castsi256_si512(q4_K_mins(tile, k)), q4_K_mins(tile + apart, k), 1);
        for (int t = 0; t < nt; t++) {
            float da;
            memcpy(&da, a[t] + i * 292, 4);
            __m512i m = _mm512_setzero_si512();
            for (int k = 0; k < 4; k++) m = _mm512_add_epi32(m, _mm512_madd_epi16(mins[k], _mm512_set1_epi32(min_pairs[(t * nb + i) * 4 + k])));
            const __m512 vda = _mm512_set1_ps(da);
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, vda), _mm512_cvtepi32_ps(s[t]), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(dmw, vda), _mm512_cvtepi32_ps(m), acc[t]);
        }
    }
}

// Q6_K two tiles at once: the AVX2 kernels' arithmetic (maddubs and madd; vpdpbusd did not
// pay for Q6_K) in 512-bit registers. Each tile's scales as q6_K_scale_pairs makes them (once
// per group, not per activation row); its quants unpacked as q6_K_group does, both tiles at once.
VT INLINE __m512i pair_q6_K_scale_pairs(const uint8_t *tile, size_t apart, int k) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(q6_K_scale_pairs(tile, k)), q6_K_scale_pairs(tile + apart, k), 1);
}

VT INLINE __m512i pair_q6_K_group(const uint8_t *tile, size_t apart, int u, int part) {
    const __m512i low6 = _mm512_set1_epi8(0x3F);
    if (part < 3) return _mm512_and_si512(pair_bytes(tile + q6_vector_at(u, part), apart), low6);
    const __m512i v0 = pair_bytes(tile + q6_vector_at(u, 0), apart);
    const __m512i v1 = pair_bytes(tile + q6_vector_at(u, 1), apart);
    const __m512i v2 = pair_bytes(tile + q6_vector_at(u, 2), apart);
    return _mm512_or_si512(_mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v0, 6), _mm512_set1_epi8(0x03)),
                                           _mm512_and_si512(_mm512_srli_epi16(v1, 4), _mm512_set1_epi8(0x0C))),
                           _mm512_and_si512(_mm512_srli_epi16(v2, 2), _mm512_set1_epi8(0x30)));
}

VT INLINE void pair_q6_K(const uint8_t *tile, size_t apart, const uint8_t **a, const int32_t *off, const int nt, int64_t nb, __m512 *acc, int fetch) {
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 1680) {
        prefetch_block(tile, 1680, fetch);
        prefetch_block(tile + apart, 1680, fetch);
        __m512i s[4];
        for (int t = 0; t < nt; t++) s[t] = _mm512_setzero_si512();
        for (int m = 0; m < 4; m++) {
#pragma clang loop unroll(full)
            for (int part = 0; part < 4; part++) {
                const int k = m + 4 * part;
                __m512i g[4];
#pragma clang loop unroll(full)
                for (int j = 0; j < 4; j++) g[j] = pair_q6_K_group(tile, apart, 4 * m + j, part);
                const __m512i scale = pair_q6_K_scale_pairs(tile, apart, k);
                for (int t = 0; t < nt; t++) {
                    const uint8_t *x8 = a[t] + i * 292 + 4;
                    __m512i p = _mm512_setzero_si512();
                    for (int j = 0; j < 4; j++) {
                        int32_t x;
                        memcpy(&x, x8 + 16 * k + 4 * j, 4);
                        p = _mm512_add_epi16(p, _mm512_maddubs_epi16(g[j], _mm512_set1_epi32(x)));
                    }
                    s[t] = _mm512_add_epi32(s[t], _mm512_madd_epi16(_mm512_sub_epi16(p, _mm512_set1_epi32(off[(t * nb + i) * 16 + k])), scale));
                }
            }
        }
        const __m512 dw = pair_halves(tile, apart);
        for (int t = 0; t < nt; t++) {
            float da;
            memcpy(&da, a[t] + i * 292, 4);
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(da)), _mm512_cvtepi32_ps(s[t]), acc[t]);
        }
    }
}

// Tiles [tile0, tile1) two at a time through KERNEL2(G), a last odd one through KERNEL(G); for
// up to CK_PACKED_FEW_ROWS activation rows (decode), all one at a time.
#define PAIR_LOOP(tile_bytes, KERNEL2, KERNEL) { \
    int64_t tile = tile0; \
    for (; nt > CK_PACKED_FEW_ROWS && tile + 1 < tile1; tile += 2) { \
        const uint8_t *p = packed + (size_t)tile * (tile_bytes); \
        const size_t apart = (tile_bytes); \
        for (int t0 = 0; t0 < nt; t0 += 4) { \
            __m512 acc[4]; \
            const int g = nt - t0 < 4 ? nt - t0 : 4; \
            switch (g) { \
            case 1: KERNEL2(1); break; \
            case 2: KERNEL2(2); break; \
            case 3: KERNEL2(3); break; \
            default: KERNEL2(4); break; \
            } \
            for (int t = 0; t < g; t++) _mm512_storeu_ps(y + (t0 + t) * ldy + tile * 8, acc[t]); \
        } \
    } \
    if (tile < tile1) { \
        const int64_t tile0 = tile; \
        TILE_LOOP(tile_bytes, KERNEL) \
    } \
}
#undef LOOP_Q4_1
#undef LOOP_Q8_0
#define LOOP_Q4_1(bytes) PAIR_LOOP(bytes, KERNEL2_Q4_1, KERNEL_Q4_1)
#define LOOP_Q8_0(bytes) PAIR_LOOP(bytes, KERNEL2_Q8_0, KERNEL_Q8_0)
#undef LOOP_Q4_K
#undef LOOP_Q5_0
#define LOOP_Q4_K(bytes) PAIR_LOOP(bytes, KERNEL2_Q4_K, KERNEL_Q4_K)
#define LOOP_Q5_0(bytes) PAIR_LOOP(bytes, KERNEL2_Q5_0, KERNEL_Q5_0)
#undef LOOP_Q6_K
#define LOOP_Q6_K(bytes) PAIR_LOOP(bytes, KERNEL2_Q6_K, KERNEL_Q6_K)
#define KERNEL2_Q6_K(G) pair_q6_K(p, apart, a + t0, off + t0 * 16 * nb, G, nb, acc, FETCH(t0))
#define KERNEL2_Q5_0(G) pair_q5_0(p, apart, a + t0, G, nb, da + t0 * nb, sum16 + t0 * nb, acc, FETCH(t0))
#define KERNEL2_Q4_K(G) pair_q4_K(p, apart, a + t0, min_pairs + t0 * 4 * nb, G, nb, acc, FETCH(t0))
#define KERNEL2_Q4_1(G) pair_q4_1(p, apart, a + t0, G, nb, da + t0 * nb, sa + t0 * nb, acc, FETCH(t0))
#define KERNEL2_Q8_0(G) pair_q8_0(p, apart, a + t0, G, nb, da + t0 * nb, sum128 + t0 * nb, acc, FETCH(t0))
#endif

#define KERNEL_Q4_1(G) VNNI_NAME(tile_q4_1)(p, a + t0, G, nb, da + t0 * nb, sa + t0 * nb, acc, FETCH(t0))
#define KERNEL_Q8_0(G) VNNI_NAME(tile_q8_0)(p, a + t0, G, nb, da + t0 * nb, sum128 + t0 * nb, acc, FETCH(t0))
#define KERNEL_Q5_0(G) VNNI_NAME(tile_q5_0)(p, a + t0, G, nb, da + t0 * nb, sum16 + t0 * nb, acc, FETCH(t0))
#define KERNEL_Q4_K(G) if (G == 1 && nt == 1) tile_q4_K_one(p, a[0], min_pairs, nb, acc, FETCH(t0)); else VNNI_NAME(tile_q4_K)(p, a + t0, min_pairs + t0 * 4 * nb, G, nb, acc, FETCH(t0))
// Q6_K keeps the AVX2 kernels (with AVX-512 above four rows, two tiles at once: pair_q6_K): with vpdpbusd (sums
// in 32 bits, then a 32-bit multiply by each group's scale) it measured no faster in either
// encoding, slower in the VEX one.
#define KERNEL_Q6_K(G) KERNEL_Q6_K_AVX2(G)
TILES_FUNCTIONS(VT, VNNI_NAME(tiles))
#undef KERNEL_Q4_1
#undef KERNEL_Q8_0
#undef KERNEL_Q5_0
#undef KERNEL_Q4_K
#undef KERNEL_Q6_K
#ifdef VNNI_ZMM
#undef LOOP_Q4_1
#undef LOOP_Q8_0
#define LOOP_Q4_1(bytes) TILE_LOOP(bytes, KERNEL_Q4_1)
#define LOOP_Q8_0(bytes) TILE_LOOP(bytes, KERNEL_Q8_0)
#undef LOOP_Q4_K
#undef LOOP_Q5_0
#define LOOP_Q4_K(bytes) TILE_LOOP(bytes, KERNEL_Q4_K)
#define LOOP_Q5_0(bytes) TILE_LOOP(bytes, KERNEL_Q5_0)
#undef LOOP_Q6_K
#define LOOP_Q6_K(bytes) TILE_LOOP(bytes, KERNEL_Q6_K)
#undef KERNEL2_Q6_K
#undef KERNEL2_Q4_K
#undef KERNEL2_Q5_0
#undef KERNEL2_Q4_1
#undef KERNEL2_Q8_0
#undef PAIR_LOOP
#endif
#undef DPBUSD
#undef VT
#undef VNNI_NAME
