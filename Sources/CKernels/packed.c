#include "CKernels.h"
#include "ck_internal.h"
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Weights repacked at load into tiles of eight rows, so one pass feeds eight output rows:
// a 32-byte load holds four quants of each of the eight rows, the activation's four matching
// bytes are broadcast to every row, and the eight rows' block sums land in the eight lanes of
// one vector. Compared with one row at a time, the horizontal sums and the per-row scale
// arithmetic disappear and each activation load serves eight rows.
//
// The arithmetic is fixed per (row, activation row), whatever the tile, the batch or the
// path: for each block i in order, S = the exact integer dot product of the block, then
//   acc = fma(dw·da, S, acc)   and, for Q4_1,   acc = fma(mw, sa, acc)
// (dw, mw: the weight block's scale and minimum; da, sa: the activation block's scale and
// scaled sum). The vector kernels (AVX2 here, VNNI in packed_vnni.h) and the scalar one (rows
// outside whole tiles, CPUs without AVX2) give the same bits.
//
// A tile block (one block of 32 elements of each of the eight rows):
// - Q4_1: half d[8], half m[8], then 4 × 32 bytes: group g holds bytes 4g..4g+3 of each
//   row's 16 quant bytes (low nibbles: elements 4g..4g+3; high nibbles: 16+4g..16+4g+3),
//   row r at bytes 4r..4r+3. 160 bytes, the same as the file's eight blocks.
// - Q5_0: half d[8], then 32 bytes of fifth bits, then the nibbles as for Q4_1. Byte 4r+k
//   of the fifth bits holds, at bit 2g, element 4g+k's and, at bit 2g+1, element 16+4g+k's
//   (g = 0..3). 176 bytes, the same as the file's.
// - Q8_0: half d[8], then 8 × 32 bytes: group g holds elements 4g..4g+3 of each row.
// Q5_0's quants are q − 16 with q in 0..31: S = Σ q·a − 16·Σ a, the same integer.
//
// Q4_K (super-blocks of 256 with eight 6-bit scales sc_j and minimums m_j): per super-block
//   S = Σ_j sc_j · Σ_{sub-block j} q·a,   M = Σ_j m_j · (bsum_2j + bsum_2j+1)
//   acc = fma(d·da, S, acc),   acc = fma(−(dmin·da), M, acc)
// Tile super-block: half d[8], half dmin[8], sc[j][r] and m[j][r] as bytes (64 each), then
// for each pair of sub-blocks jp and group g, 32 bytes: bytes 32jp+4g..+3 of each row's
// quants (low nibbles: sub-block 2jp, high: 2jp+1). 1,184 bytes for the file's 1,152.
//
// Q6_K (super-blocks of 256, q − 32 with q in 0..63, an 8-bit scale per 16 elements):
//   S = Σ_k sc_k · Σ_{group k} (q − 32)·a,   acc = fma(d·da, S, acc)
// Tile super-block: half d[8], sc[k][r] (128 bytes), then for each u = 0..15 three vectors
// V0, V1, V2 (96 bytes) that hold the element groups e = u, u + 16, u + 32 and u + 48 (group e:
// elements 4e..4e+3 of each row, row r at bytes 4r..4r+3): Vc holds group u + 16c's six bits
// in bits 0–5 of each byte and bits 2c, 2c+1 of group u + 48's in bits 6–7. Three groups come
// out with one mask each, the fourth from the three top bit pairs. 1,680 bytes, as the file.

enum { T_Q4_1 = 3, T_Q5_0 = 6, T_Q8_0 = 8, T_Q4_K = 12, T_Q6_K = 14 };

static inline float h2f(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return ck_fp16_to_fp32(h); }

// Elements of a block, file block bytes, tile block bytes, and where the quants start in a
// file block.
static int block_elems(uint32_t t) { return t == T_Q4_K || t == T_Q6_K ? 256 : 32; }
static int file_block(uint32_t t) { return t == T_Q4_1 ? 20 : t == T_Q5_0 ? 22 : t == T_Q4_K ? 144 : t == T_Q6_K ? 210 : 34; }
static int tile_block(uint32_t t) { return t == T_Q4_1 ? 160 : t == T_Q5_0 ? 176 : t == T_Q4_K ? 1184 : t == T_Q6_K ? 1680 : 272; }
static int quant_offset(uint32_t t) { return t == T_Q4_1 ? 4 : t == T_Q5_0 ? 6 : 2; }

int ck_packable(uint32_t wtype) { return wtype == T_Q4_1 || wtype == T_Q5_0 || wtype == T_Q8_0 || wtype == T_Q4_K || wtype == T_Q6_K; }

// Element idx (0..255) of a Q6_K block as q in 0..63 (ggml's dequantize_row_q6_K layout).
static inline int q6_value(const uint8_t *b, int idx) {
    const int n = idx / 128, part = (idx % 128) / 32, l = idx % 32;
    const uint8_t lo = b[64 * n + l + 32 * (part & 1)];
    return ((part < 2 ? lo : lo >> 4) & 0x0F) | (((b[128 + 32 * n + l] >> (2 * part)) & 3) << 4);
}

// Where vector Vc (c = 0..2) of u lies in a Q6_K tile block.
static inline int q6_vector_at(int u, int c) { return 144 + 96 * u + 32 * c; }

static void pack_q6_K(const uint8_t *w, size_t w_row_bytes, int64_t tile, int64_t i, uint8_t *dst) {
    for (int r = 0; r < 8; r++) {
        const uint8_t *b = w + (size_t)(tile * 8 + r) * w_row_bytes + (size_t)i * 210;
        memcpy(dst + 2 * r, b + 208, 2);
        for (int k = 0; k < 16; k++) dst[16 + 8 * k + r] = b[192 + k];
        for (int u = 0; u < 16; u++)
            for (int k = 0; k < 4; k++) {
                const int q3 = q6_value(b, 4 * (u + 48) + k);
                for (int c = 0; c < 3; c++)
                    dst[q6_vector_at(u, c) + 4 * r + k] = (uint8_t)(q6_value(b, 4 * (u + 16 * c) + k) | ((q3 >> (2 * c)) & 3) << 6);
            }
    }
}

size_t ck_packed_bytes(uint32_t wtype, int64_t rows, int64_t n) {
    if (!ck_packable(wtype) || rows < 8 || n % block_elems(wtype) != 0) return 0;
    return (size_t)(rows / 8) * (size_t)(n / block_elems(wtype)) * (size_t)tile_block(wtype);
}

static void pack_q4_K(const uint8_t *w, size_t w_row_bytes, int64_t tile, int64_t i, uint8_t *dst) {
    for (int r = 0; r < 8; r++) {
        const uint8_t *b = w + (size_t)(tile * 8 + r) * w_row_bytes + (size_t)i * 144;
        memcpy(dst + 2 * r, b, 2);
        memcpy(dst + 16 + 2 * r, b + 2, 2);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            ck_scale_min_k4(j, b + 4, &sc, &m);
            dst[32 + 8 * j + r] = (uint8_t)sc;
            dst[96 + 8 * j + r] = (uint8_t)m;
        }
        for (int jp = 0; jp < 4; jp++)
            for (int g = 0; g < 8; g++) memcpy(dst + 160 + 32 * (8 * jp + g) + 4 * r, b + 16 + 32 * jp + 4 * g, 4);
    }
}

int ck_pack(uint32_t wtype, const void *w, size_t w_row_bytes, int64_t rows, int64_t n, void *out) {
    // Whole tiles only; the last rows % 8 rows stay in the file's format.
    if (ck_packed_bytes(wtype, rows, n) == 0) return -1;
    const int64_t nb = n / block_elems(wtype);
    const int fb = file_block(wtype), qo = quant_offset(wtype), groups = wtype == T_Q8_0 ? 8 : 4;
    const int quants = wtype == T_Q8_0 ? 16 : wtype == T_Q4_1 ? 32 : 48;  // where the quants start in a tile block
    uint8_t *dst = (uint8_t *)out;
    for (int64_t tile = 0; tile < rows / 8; tile++) {
        for (int64_t i = 0; i < nb; i++, dst += tile_block(wtype)) {
            if (wtype == T_Q4_K || wtype == T_Q6_K) {
                (wtype == T_Q4_K ? pack_q4_K : pack_q6_K)((const uint8_t *)w, w_row_bytes, tile, i, dst);
                continue;
            }
            for (int r = 0; r < 8; r++) {
                const uint8_t *b = (const uint8_t *)w + (size_t)(tile * 8 + r) * w_row_bytes + (size_t)i * fb;
                memcpy(dst + 2 * r, b, 2);                                   // d
                if (wtype == T_Q4_1) memcpy(dst + 16 + 2 * r, b + 2, 2);     // m
                if (wtype == T_Q5_0) {
                    uint32_t qh;
                    memcpy(&qh, b + 2, 4);
                    for (int k = 0; k < 4; k++) {
                        uint8_t bits = 0;
                        for (int g = 0; g < 4; g++)
                            bits |= (uint8_t)((((qh >> (4 * g + k)) & 1) << (2 * g)) | (((qh >> (16 + 4 * g + k)) & 1) << (2 * g + 1)));
                        dst[16 + 4 * r + k] = bits;
                    }
                }
                for (int g = 0; g < groups; g++) memcpy(dst + quants + 32 * g + 4 * r, b + qo + 4 * g, 4);
            }
        }
    }
    return 0;
}

// One row in the file's own format, with the packed arithmetic.
static float row_q4_1(const uint8_t *w, const uint8_t *a, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; i++, w += 20, a += 36) {
        const int8_t *q8 = (const int8_t *)(a + 4);
        int s = 0;
        for (int j = 0; j < 16; j++) s += (w[4 + j] & 0x0F) * q8[j] + (w[4 + j] >> 4) * q8[j + 16];
        acc = fmaf(h2f(w) * h2f(a), (float)s, acc);
        acc = fmaf(h2f(w + 2), h2f(a + 2), acc);
    }
    return acc;
}

static float row_q5_0(const uint8_t *w, const uint8_t *a, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; i++, w += 22, a += 34) {
        const int8_t *q8 = (const int8_t *)(a + 2);
        uint32_t qh;
        memcpy(&qh, w + 2, 4);
        int s = 0;
        for (int j = 0; j < 16; j++) {
            const int lo = (w[6 + j] & 0x0F) | (int)(((qh >> j) & 1) << 4);
            const int hi = (w[6 + j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            s += (lo - 16) * q8[j] + (hi - 16) * q8[j + 16];
        }
        acc = fmaf(h2f(w) * h2f(a), (float)s, acc);
    }
    return acc;
}

static float row_q4_K(const uint8_t *w, const uint8_t *a, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; i++, w += 144, a += 292) {
        const int8_t *q8 = (const int8_t *)(a + 4);
        int16_t bs[16];
        memcpy(bs, a + 260, 32);
        int32_t s = 0, m = 0;
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            ck_scale_min_k4(j, w + 4, &sc, &mn);
            const uint8_t *qs = w + 16 + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            int32_t sj = 0;
            for (int l = 0; l < 32; l++) sj += ((qs[l] >> shift) & 0x0F) * q8[32 * j + l];
            s += sc * sj;
            m += mn * (bs[2 * j] + bs[2 * j + 1]);
        }
        float da;
        memcpy(&da, a, 4);
        acc = fmaf(h2f(w) * da, (float)s, acc);
        acc = fmaf(-(h2f(w + 2) * da), (float)m, acc);
    }
    return acc;
}

static float row_q6_K(const uint8_t *w, const uint8_t *a, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; i++, w += 210, a += 292) {
        const int8_t *q8 = (const int8_t *)(a + 4), *sc = (const int8_t *)(w + 192);
        int16_t bs[16];
        memcpy(bs, a + 260, 32);
        int32_t s = 0, c = 0;
        for (int k = 0; k < 16; k++) {
            int32_t u = 0;
            for (int l = 0; l < 16; l++) u += q6_value(w, 16 * k + l) * q8[16 * k + l];
            s += sc[k] * u;
            c += sc[k] * bs[k];
        }
        s -= 32 * c;
        float da;
        memcpy(&da, a, 4);
        acc = fmaf(h2f(w + 208) * da, (float)s, acc);
    }
    return acc;
}

static float row_q8_0(const uint8_t *w, const uint8_t *a, int64_t nb) {
    float acc = 0;
    for (int64_t i = 0; i < nb; i++, w += 34, a += 34) {
        const int8_t *qw = (const int8_t *)(w + 2), *qa = (const int8_t *)(a + 2);
        int s = 0;
        for (int j = 0; j < 32; j++) s += qw[j] * qa[j];
        acc = fmaf(h2f(w) * h2f(a), (float)s, acc);
    }
    return acc;
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

// The same conversion as h2f, in one instruction.
AVX2 INLINE float h2f_f16c(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return _cvtsh_ss(h); }

// Σ over four groups of maddubs(q[g], the four activation bytes x[g] in every row), in
// 16-bit lanes (each caller bounds the sums).
AVX2 INLINE __m256i maddubs4(const __m256i *q, const int32_t *x) {
    __m256i s = _mm256_maddubs_epi16(q[0], _mm256_set1_epi32(x[0]));
    for (int g = 1; g < 4; g++) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(q[g], _mm256_set1_epi32(x[g])));
    return s;
}

// On the first pass over a tile (fetch), each kernel asks for the bytes 6 KiB on while it works
// on a block: the tiles follow one another in memory, and without this a decode step's loads
// wait on memory about a third of the time (Qwen2.5-1.5B decode 30% faster with 2 KiB, about
// 10% more with 4 or 6 KiB than with 2; 8 and 12 KiB no better). Later passes over the same
// tile find it in the cache.
//
// fetch: 0 on later passes; FETCH_KEPT on the first of several (more than four activation rows:
// the tile is read again for the next four); FETCH_STREAMED when one pass is all (decode). A
// streamed tile is asked for as non-temporal: read once, it need not take a place in the
// last-level cache (on AMD a victim cache that each line leaving L2 is written into) from the
// step's other data. Single-stream decode, `martlet bench -p 0 -n 64`, alternating pairs on this
// AMD EPYC: SmolLM2 faster in 6 of 6 (mean 311 against 285 t/s), Qwen2.5-0.5B in 5 of 6,
// Gemma-3-270m in 4 of 4, Qwen2.5-1.5B unchanged; prefill (FETCH_KEPT) as before.
enum { FETCH_KEPT = 1, FETCH_STREAMED = 2 };
#define FETCH(t0) ((t0) != 0 ? 0 : nt <= 4 ? FETCH_STREAMED : FETCH_KEPT)

INLINE void prefetch_line(const char *p, int fetch) {
    if (fetch == FETCH_STREAMED) _mm_prefetch(p, _MM_HINT_NTA); else _mm_prefetch(p, _MM_HINT_T0);
}

INLINE void prefetch_block(const uint8_t *p, int bytes, int fetch) {
    if (!fetch) return;
    for (int l = 0; l < bytes; l += 64) prefetch_line((const char *)p + 6144 + l, fetch);
}

// Step k of `steps` of prefetch_block: the same bytes, asked for `per` addresses at a time at
// even spacing over the kernel's work on a block (bytes / (per · steps) ≤ 64, so every line is
// asked for; a line asked for twice costs one instruction). The one-row kernels, with their
// block's work in a few hundred instructions, wait on their loads less with the requests
// spread than with all of them at the block's start.
INLINE void prefetch_step(const uint8_t *p, int bytes, int k, int steps, int per, int fetch) {
    if (!fetch) return;
    for (int i = 0; i < per; i++) prefetch_line((const char *)p + 6144 + bytes * (per * k + i) / (per * steps), fetch);
}

// Every tile of [tile0, tile1) against all nt activation rows, four at a time, so each tile
// is read from memory once for the whole batch; KERNEL(G) runs the kernel on the G rows from
// t0 (with p, t0 and acc in scope).
#define TILE_LOOP(tile_bytes, KERNEL) \
    for (int64_t tile = tile0; tile < tile1; tile++) { \
        const uint8_t *p = packed + (size_t)tile * (tile_bytes); \
        for (int t0 = 0; t0 < nt; t0 += 4) { \
            __m256 acc[4]; \
            const int g = nt - t0 < 4 ? nt - t0 : 4; \
            switch (g) { \
            case 1: KERNEL(1); break; \
            case 2: KERNEL(2); break; \
            case 3: KERNEL(3); break; \
            default: KERNEL(4); break; \
            } \
            for (int t = 0; t < g; t++) _mm256_storeu_ps(y + (t0 + t) * ldy + tile * 8, acc[t]); \
        } \
    }

// A Q4_1 tile block's quants: lo[g], hi[g] = the low and high nibbles of group g.
AVX2 INLINE void q4_1_nibbles(const uint8_t *tile, __m256i lo[4], __m256i hi[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int g = 0; g < 4; g++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(tile + 32 + 32 * g));
        lo[g] = _mm256_and_si256(q, m4);
        hi[g] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
}

// A Q5_0 tile block's quants q = nibble | fifth bit · 16, in 0..31 (element 4g+k's bit sits at
// bit 2g of the fifth bits, 16+4g+k's at 2g+1), as lo[g] and hi[g].
AVX2 INLINE void q5_0_quants(const uint8_t *tile, __m256i lo[4], __m256i hi[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
    const __m256i h = _mm256_loadu_si256((const __m256i *)(tile + 16));
    for (int g = 0; g < 4; g++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(tile + 48 + 32 * g));
        const __m256i hl = 2 * g <= 4 ? _mm256_slli_epi16(h, 4 - 2 * g) : _mm256_srli_epi16(h, 2 * g - 4);
        const __m256i hh = 2 * g + 1 <= 4 ? _mm256_slli_epi16(h, 3 - 2 * g) : _mm256_srli_epi16(h, 2 * g - 3);
        lo[g] = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_and_si256(hl, bit4));
        hi[g] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), _mm256_and_si256(hh, bit4));
    }
}

// Eight rows (one tile) against nt ≤ 4 activation rows; da/sa: the activation blocks'
// scales and scaled sums as floats, [nt][nb]. Each kernel leaves acc[t] = the eight rows'
// results for activation row t.
AVX2 INLINE void tile_q4_1(const uint8_t *tile, const uint8_t **a, const int nt, int64_t nb,
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
            // |each product pair| ≤ 2·15·127, so eight of them still fit in 16 bits.
            const __m256i s = _mm256_add_epi16(maddubs4(lo, x), maddubs4(hi, x + 4));
            const __m256 sum = _mm256_cvtepi32_ps(_mm256_madd_epi16(s, _mm256_set1_epi16(1)));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(da[t * nb + i])), sum, acc[t]);
            acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(sa[t * nb + i]), acc[t]);
        }
    }
}

AVX2 INLINE void tile_q5_0(const uint8_t *tile, const uint8_t **a, const int nt, int64_t nb,
                           const float *da, const int32_t *sum16, __m256 *acc, int fetch) {
    const __m256i ones = _mm256_set1_epi16(1);
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 176) {
        prefetch_block(tile, 176, fetch);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        __m256i lo[4], hi[4];
        q5_0_quants(tile, lo, hi);
        for (int t = 0; t < nt; t++) {
            int32_t x[8];
            memcpy(x, a[t] + i * 34 + 2, 32);
            // |each product pair| ≤ 2·31·127, so four of them fit in 16 bits.
            __m256i s = _mm256_add_epi32(_mm256_madd_epi16(maddubs4(lo, x), ones), _mm256_madd_epi16(maddubs4(hi, x + 4), ones));
            s = _mm256_sub_epi32(s, _mm256_set1_epi32(sum16[t * nb + i]));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(da[t * nb + i])), _mm256_cvtepi32_ps(s), acc[t]);
        }
    }
}

// The sums of the Q8_K activation's block sums over each sub-block of 32, for one activation
// row, as the pairs (sub-blocks 2k, 2k + 1) of 16-bit halves that the minimums multiply.
static void q4_K_min_sums(const uint8_t *a, int64_t nb, int32_t *pairs) {
    for (int64_t i = 0; i < nb; i++) {
        int16_t bs[16];
        memcpy(bs, a + i * 292 + 260, 32);
        for (int k = 0; k < 4; k++) {
            const uint16_t b0 = (uint16_t)(bs[4 * k] + bs[4 * k + 1]), b1 = (uint16_t)(bs[4 * k + 2] + bs[4 * k + 3]);
            pairs[4 * i + k] = (int32_t)((uint32_t)b0 | (uint32_t)b1 << 16);
        }
    }
}

// The minimums of sub-blocks 2k and 2k + 1 of each row, as the (low, high) 16-bit halves of
// its lane: the two eight-byte groups broadcast and interleaved by a byte shuffle.
AVX2 INLINE __m256i q4_K_mins(const uint8_t *tile, int k) {
    const __m256i zip = _mm256_setr_epi8(0, -1, 8, -1, 1, -1, 9, -1, 2, -1, 10, -1, 3, -1, 11, -1,
                                         4, -1, 12, -1, 5, -1, 13, -1, 6, -1, 14, -1, 7, -1, 15, -1);
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(tile + 96 + 16 * k))), zip);
}

// The end of a Q4_K super-block i for nt activation rows: acc[t] += d·da · s[t] − dmin·da · M
// (M: the minimums times the activation's sub-block sums).
AVX2 INLINE void q4_K_scale(const uint8_t *tile, const uint8_t **a, const int32_t *min_pairs, const int nt, int64_t nb, int64_t i,
                            const __m256i *s, __m256 *acc) {
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
    const __m256 dmw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + 16)));
    __m256i mins[4];
    for (int k = 0; k < 4; k++) mins[k] = q4_K_mins(tile, k);
    for (int t = 0; t < nt; t++) {
        float da;
        memcpy(&da, a[t] + i * 292, 4);
        __m256i m = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) m = _mm256_add_epi32(m, _mm256_madd_epi16(mins[k], _mm256_set1_epi32(min_pairs[(t * nb + i) * 4 + k])));
        const __m256 vda = _mm256_set1_ps(da);
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, vda), _mm256_cvtepi32_ps(s[t]), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmw, vda), _mm256_cvtepi32_ps(m), acc[t]);
    }
}

// Q4_K: one super-block at a time, each half of each pair of sub-blocks unpacked once for
// every activation row.
AVX2 INLINE void tile_q4_K(const uint8_t *tile, const uint8_t **a, const int32_t *min_pairs, const int nt, int64_t nb, __m256 *acc, int fetch) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 1184) {
        prefetch_block(tile, 1184, fetch);
        __m256i s[4];
        for (int t = 0; t < nt; t++) s[t] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            // sc_j of each row in both 16-bit halves of its lane.
            const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(tile + 32 + 8 * j)));
            const __m256i scale = _mm256_or_si256(sc, _mm256_slli_epi32(sc, 16));
            __m256i q[8];
            for (int g = 0; g < 8; g++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i *)(tile + 160 + 32 * (8 * (j / 2) + g)));
                q[g] = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(raw, 4) : raw, m4);
            }
            for (int t = 0; t < nt; t++) {
                int32_t x[8];
                memcpy(x, a[t] + i * 292 + 4 + 32 * j, 32);
                // |each product pair| ≤ 2·15·127: eight of them fit in 16 bits.
                __m256i p = _mm256_maddubs_epi16(q[0], _mm256_set1_epi32(x[0]));
                for (int g = 1; g < 8; g++) p = _mm256_add_epi16(p, _mm256_maddubs_epi16(q[g], _mm256_set1_epi32(x[g])));
                s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(p, scale));
            }
        }
        q4_K_scale(tile, a, min_pairs, nt, nb, i, s, acc);
    }
}

// Q4_K for one activation row (decode): the same sums as tile_q4_K, the loops inside a pair of
// sub-blocks unrolled (so each shift is known when compiled; the loop over the pairs is not, so
// the activations stay in registers), the scales and minimums spread into 16-bit lanes by byte
// shuffles, the requests for memory ahead spread over the block.
AVX2 INLINE void tile_q4_K_one(const uint8_t *tile, const uint8_t *a, const int32_t *min_pairs, int64_t nb, __m256 *acc, int fetch) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    // Row r's byte (r of eight) into the low byte of both 16-bit halves of lane r, high bytes zero.
    const __m256i spread = _mm256_setr_epi8(0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3, -1,
                                            4, -1, 4, -1, 5, -1, 5, -1, 6, -1, 6, -1, 7, -1, 7, -1);
    __m256 sum = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 1184) {
        const uint8_t *x8 = a + i * 292 + 4;
        __m256i s = _mm256_setzero_si256();
#pragma clang loop unroll(disable)
        for (int jp = 0; jp < 4; jp++) {
            __m256i raw[8];
#pragma clang loop unroll(full)
            for (int g = 0; g < 8; g++) raw[g] = _mm256_loadu_si256((const __m256i *)(tile + 160 + 32 * (8 * jp + g)));
#pragma clang loop unroll(full)
            for (int half = 0; half < 2; half++) {
                const int j = 2 * jp + half;
                prefetch_step(tile, 1184, j, 8, 3, fetch);
                int64_t sc8;
                memcpy(&sc8, tile + 32 + 8 * j, 8);
                const __m256i scale = _mm256_shuffle_epi8(_mm256_set1_epi64x(sc8), spread);
                __m256i p = _mm256_setzero_si256();
#pragma clang loop unroll(full)
                for (int g = 0; g < 8; g++) {
                    int32_t x;
                    memcpy(&x, x8 + 32 * j + 4 * g, 4);
                    const __m256i q = _mm256_and_si256(half ? _mm256_srli_epi16(raw[g], 4) : raw[g], m4);
                    // |each product pair| ≤ 2·15·127: eight of them fit in 16 bits.
                    const __m256i prod = _mm256_maddubs_epi16(q, _mm256_set1_epi32(x));
                    p = g == 0 ? prod : _mm256_add_epi16(p, prod);
                }
                s = _mm256_add_epi32(s, _mm256_madd_epi16(p, scale));
            }
        }
        __m256i m = _mm256_setzero_si256();
#pragma clang loop unroll(full)
        for (int k = 0; k < 4; k++) {
            m = _mm256_add_epi32(m, _mm256_madd_epi16(q4_K_mins(tile, k), _mm256_set1_epi32(min_pairs[4 * i + k])));
        }
        float da;
        memcpy(&da, a + i * 292, 4);
        const __m256 vda = _mm256_set1_ps(da);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        const __m256 dmw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + 16)));
        sum = _mm256_fmadd_ps(_mm256_mul_ps(dw, vda), _mm256_cvtepi32_ps(s), sum);
        sum = _mm256_fnmadd_ps(_mm256_mul_ps(dmw, vda), _mm256_cvtepi32_ps(m), sum);
    }
    acc[0] = sum;
}

// Q6_K's offset of 32, taken from 16-bit sums: a sum of the four products of a group k's four
// element groups (e = 4k..4k+3) with one activation row holds, in the 16-bit lanes of row r,
// the products of elements 0–1 (even lanes) or 2–3 (odd lanes) of each. off[16·i + k] holds
// 32 · the activation's sum over those eight elements, for the even lanes in its low half and
// the odd lanes in its high half, so (sum − off) is Σ (q − 32)·a over the lane's products.
// Activations are in −127..127 (ck_quantize_row's Q8_K: its scale maps the largest magnitude
// to 127), so that is at most 8 · 32 · 127 = 32,512 in magnitude: 16 bits, though the sum
// before the subtraction may wrap.
AVX2 INLINE void q6_K_offsets(const uint8_t *a, int64_t nb, int32_t *off) {
    const __m256i ones = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *x8 = a + i * 292 + 4;
        for (int c = 0; c < 8; c++) {  // groups 2c (low 128 bits) and 2c + 1 (high)
            const __m256i pairs = _mm256_maddubs_epi16(ones, _mm256_loadu_si256((const __m256i *)(x8 + 32 * c)));
            __m256i t = _mm256_add_epi16(pairs, _mm256_srli_epi64(pairs, 32));
            t = _mm256_slli_epi16(_mm256_add_epi16(t, _mm256_srli_si256(t, 8)), 5);
            off[16 * i + 2 * c] = _mm256_extract_epi32(t, 0);
            off[16 * i + 2 * c + 1] = _mm256_extract_epi32(t, 4);
        }
    }
}

// sc_k of each row, sign-extended, in both 16-bit halves of its lane: the eight bytes
// broadcast, row r's byte moved to the high byte of both halves, shifted down with its sign.
AVX2 INLINE __m256i q6_K_scale_pairs(const uint8_t *tile, int k) {
    const __m256i pick = _mm256_setr_epi8(-1, 0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3,
                                          -1, 4, -1, 4, -1, 5, -1, 5, -1, 6, -1, 6, -1, 7, -1, 7);
    int64_t sc;
    memcpy(&sc, tile + 16 + 8 * k, 8);
    return _mm256_srai_epi16(_mm256_shuffle_epi8(_mm256_set1_epi64x(sc), pick), 8);
}

// Element group u + 16·part of a tile block as eight rows' four 6-bit quants.
AVX2 INLINE __m256i q6_K_group(const uint8_t *tile, int u, int part) {
    const __m256i low6 = _mm256_set1_epi8(0x3F);
    if (part < 3) return _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(tile + q6_vector_at(u, part))), low6);
    const __m256i v0 = _mm256_loadu_si256((const __m256i *)(tile + q6_vector_at(u, 0)));
    const __m256i v1 = _mm256_loadu_si256((const __m256i *)(tile + q6_vector_at(u, 1)));
    const __m256i v2 = _mm256_loadu_si256((const __m256i *)(tile + q6_vector_at(u, 2)));
    // Each top bit pair shifted down into place (16-bit shifts: the masks drop what crosses bytes).
    return _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v0, 6), _mm256_set1_epi8(0x03)),
                                           _mm256_and_si256(_mm256_srli_epi16(v1, 4), _mm256_set1_epi8(0x0C))),
                           _mm256_and_si256(_mm256_srli_epi16(v2, 2), _mm256_set1_epi8(0x30)));
}

// The four products of group k (element groups g) with activation row x8's bytes, summed in
// 16 bits, centred (off: q6_K_offsets) and scaled by sc_k into each row's 32-bit lane.
AVX2 INLINE __m256i q6_K_group_sum(const __m256i g[4], const uint8_t *x8, int k, int32_t off, __m256i scale) {
    __m256i p = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
        int32_t x;
        memcpy(&x, x8 + 16 * k + 4 * j, 4);
        p = _mm256_add_epi16(p, _mm256_maddubs_epi16(g[j], _mm256_set1_epi32(x)));
    }
    return _mm256_madd_epi16(_mm256_sub_epi16(p, _mm256_set1_epi32(off)), scale);
}

// Q6_K: for each group k, its four element groups unpacked once for every activation row.
AVX2 INLINE void tile_q6_K(const uint8_t *tile, const uint8_t **a, const int32_t *off, const int nt, int64_t nb, __m256 *acc, int fetch) {
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 1680) {
        prefetch_block(tile, 1680, fetch);
        __m256i s[4];
        for (int t = 0; t < nt; t++) s[t] = _mm256_setzero_si256();
        for (int m = 0; m < 4; m++) {
#pragma clang loop unroll(full)
            for (int part = 0; part < 4; part++) {
                const int k = m + 4 * part;  // element groups 4k + j = u + 16·part, u = 4m + j
                __m256i g[4];
#pragma clang loop unroll(full)
                for (int j = 0; j < 4; j++) g[j] = q6_K_group(tile, 4 * m + j, part);
                const __m256i scale = q6_K_scale_pairs(tile, k);
                for (int t = 0; t < nt; t++)
                    s[t] = _mm256_add_epi32(s[t], q6_K_group_sum(g, a[t] + i * 292 + 4, k, off[(t * nb + i) * 16 + k], scale));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        for (int t = 0; t < nt; t++) {
            float da;
            memcpy(&da, a[t] + i * 292, 4);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(da)), _mm256_cvtepi32_ps(s[t]), acc[t]);
        }
    }
}

// The same sums for one activation row (decode), in another order: each u's three vectors are
// read once for the four groups they hold, and the loads go forward through memory. The
// integer sums are exact either way, so the result is the same.
AVX2 INLINE void tile_q6_K_one(const uint8_t *tile, const uint8_t *a, const int32_t *off, int64_t nb, __m256 *acc, int fetch) {
    __m256 sum = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 1680) {
        const uint8_t *x8 = a + i * 292 + 4;
        __m256i s = _mm256_setzero_si256();
#pragma clang loop unroll(disable)
        for (int m = 0; m < 4; m++) {
            // Groups k = m + 4·part; their element groups u + 16·part, u = 4m + j.
            __m256i p[4];
#pragma clang loop unroll(full)
            for (int j = 0; j < 4; j++) {
                const int u = 4 * m + j;
                prefetch_step(tile, 1680, u, 16, 2, fetch);
#pragma clang loop unroll(full)
                for (int part = 0; part < 4; part++) {
                    int32_t x;
                    memcpy(&x, x8 + 4 * (u + 16 * part), 4);
                    const __m256i prod = _mm256_maddubs_epi16(q6_K_group(tile, u, part), _mm256_set1_epi32(x));
                    p[part] = j == 0 ? prod : _mm256_add_epi16(p[part], prod);
                }
            }
#pragma clang loop unroll(full)
            for (int part = 0; part < 4; part++) {
                const int k = m + 4 * part;
                s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_sub_epi16(p[part], _mm256_set1_epi32(off[16 * i + k])), q6_K_scale_pairs(tile, k)));
            }
        }
        float da;
        memcpy(&da, a + i * 292, 4);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        sum = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(da)), _mm256_cvtepi32_ps(s), sum);
    }
    acc[0] = sum;
}

AVX2 INLINE void tile_q8_0(const uint8_t *tile, const uint8_t **a, const int nt, int64_t nb,
                           const float *da, const float *sa, __m256 *acc, int fetch) {
    (void)sa;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 272) {
        prefetch_block(tile, 272, fetch);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        __m256i s[4];
        for (int t = 0; t < nt; t++) s[t] = _mm256_setzero_si256();
        // One group at a time for every activation row, so the registers hold the sums of all
        // four rows and not the eight groups.
#pragma clang loop unroll(full)
        for (int g = 0; g < 8; g++) {
            // Signed × signed as unsigned × signed: |w| times a with w's sign.
            const __m256i q = _mm256_loadu_si256((const __m256i *)(tile + 16 + 32 * g));
            const __m256i u = _mm256_sign_epi8(q, q);
            for (int t = 0; t < nt; t++) {
                int32_t x;
                memcpy(&x, a[t] + i * 34 + 2 + 4 * g, 4);
                // A product pair can reach 2·127·127, so each is widened to 32 bits on its own.
                s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(_mm256_set1_epi32(x), q)), ones));
            }
        }
        for (int t = 0; t < nt; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(da[t * nb + i])), _mm256_cvtepi32_ps(s[t]), acc[t]);
    }
}

// The activation rows' per-block values the kernels take: scales (and, sa not NULL, Q8_1's
// scaled sums) as floats, [nt][nb].
AVX2 static void block_scales(const uint8_t **a, int nt, int64_t nb, int ablock, float *da, float *sa) {
    for (int t = 0; t < nt; t++)
        for (int64_t i = 0; i < nb; i++) {
            da[t * nb + i] = h2f_f16c(a[t] + i * ablock);
            if (sa) sa[t * nb + i] = h2f_f16c(a[t] + i * ablock + 2);
        }
}

// k · Σ a of each Q8_0 activation block, [nt][nb]: the offset of quants stored as q + k
// (Q5_0's, k = 16; Q8_0's in the VNNI kernels, k = 128).
static void block_sums(const uint8_t **a, int nt, int64_t nb, int32_t k, int32_t *sums) {
    for (int t = 0; t < nt; t++)
        for (int64_t i = 0; i < nb; i++) {
            const int8_t *q8 = (const int8_t *)(a[t] + i * 34 + 2);
            int32_t sum = 0;
            for (int j = 0; j < 32; j++) sum += q8[j];
            sums[t * nb + i] = k * sum;
        }
}

#define CAT_(x, y) x##y
#define CAT(x, y) CAT_(x, y)
#define TILES_ARGS const uint8_t *packed, int64_t nb, const uint8_t **a, int nt, float *y, int64_t ldy, int64_t tile0, int64_t tile1
typedef void (*tiles_fn)(TILES_ARGS);

// One variant's functions over tiles [tile0, tile1) and nt ≤ 32 activation rows, one per
// packed type, named prefix_q4_1 … prefix_q6_K: the activations' per-block values (Q8_0's
// offset sums, sum128, declared and computed only where Q8_0_SUMS does: the VNNI kernels), then every
// tile through the loops LOOP_Q4_1 … LOOP_Q6_K (of the tile's bytes) and the kernels
// KERNEL_Q4_1 … KERNEL_Q6_K (macros of the group size G).
#define TILES_FUNCTIONS(attr, prefix) \
attr static void CAT(prefix, _q4_1)(TILES_ARGS) { \
    float da[nt * nb], sa[nt * nb]; \
    block_scales(a, nt, nb, 36, da, sa); \
    LOOP_Q4_1((size_t)nb * 160) \
} \
attr static void CAT(prefix, _q8_0)(TILES_ARGS) { \
    float da[nt * nb], *sa = NULL; \
    block_scales(a, nt, nb, 34, da, sa); \
    Q8_0_SUMS(a, nt, nb) \
    LOOP_Q8_0((size_t)nb * 272) \
} \
attr static void CAT(prefix, _q5_0)(TILES_ARGS) { \
    float da[nt * nb]; \
    int32_t sum16[nt * nb]; \
    block_scales(a, nt, nb, 34, da, NULL); \
    block_sums(a, nt, nb, 16, sum16); \
    LOOP_Q5_0((size_t)nb * 176) \
} \
attr static void CAT(prefix, _q4_K)(TILES_ARGS) { \
    int32_t min_pairs[nt * 4 * nb]; \
    for (int t = 0; t < nt; t++) q4_K_min_sums(a[t], nb, min_pairs + t * 4 * nb); \
    LOOP_Q4_K((size_t)nb * 1184) \
} \
attr static void CAT(prefix, _q6_K)(TILES_ARGS) { \
    int32_t off[nt * 16 * nb]; \
    for (int t = 0; t < nt; t++) q6_K_offsets(a[t], nb, off + t * 16 * nb); \
    LOOP_Q6_K((size_t)nb * 1680) \
}

#define LOOP_Q4_1(bytes) TILE_LOOP(bytes, KERNEL_Q4_1)
#define LOOP_Q8_0(bytes) TILE_LOOP(bytes, KERNEL_Q8_0)
#define LOOP_Q4_K(bytes) TILE_LOOP(bytes, KERNEL_Q4_K)
#define LOOP_Q5_0(bytes) TILE_LOOP(bytes, KERNEL_Q5_0)
#define LOOP_Q6_K(bytes) TILE_LOOP(bytes, KERNEL_Q6_K)
#define KERNEL_Q4_1(G) tile_q4_1(p, a + t0, G, nb, da + t0 * nb, sa + t0 * nb, acc, FETCH(t0))
#define KERNEL_Q8_0(G) tile_q8_0(p, a + t0, G, nb, da + t0 * nb, sa, acc, FETCH(t0))
#define KERNEL_Q5_0(G) tile_q5_0(p, a + t0, G, nb, da + t0 * nb, sum16 + t0 * nb, acc, FETCH(t0))
#define KERNEL_Q4_K(G) if (G == 1 && nt == 1) tile_q4_K_one(p, a[0], min_pairs, nb, acc, FETCH(t0)); else tile_q4_K(p, a + t0, min_pairs + t0 * 4 * nb, G, nb, acc, FETCH(t0))
#define KERNEL_Q6_K_AVX2(G) if (G == 1 && nt == 1) tile_q6_K_one(p, a[0], off, nb, acc, FETCH(t0)); else tile_q6_K(p, a + t0, off + t0 * 16 * nb, G, nb, acc, FETCH(t0))
#define KERNEL_Q6_K(G) KERNEL_Q6_K_AVX2(G)
#define Q8_0_SUMS(a, nt, nb)
TILES_FUNCTIONS(AVX2, tiles_avx2)
#undef Q8_0_SUMS
#define Q8_0_SUMS(a, nt, nb) int32_t sum128[nt * nb]; block_sums(a, nt, nb, 128, sum128);
#undef KERNEL_Q4_1
#undef KERNEL_Q8_0
#undef KERNEL_Q5_0
#undef KERNEL_Q4_K
#undef KERNEL_Q6_K

#define VNNI_TARGET "avx2,fma,f16c,avxvnni"
#define VNNI_SUFFIX _avxvnni
#include "packed_vnni.h"
#undef VNNI_TARGET
#undef VNNI_SUFFIX
// With AVX-512, every type takes two tiles at once (one 512-bit register: sixteen rows) above
// CK_PACKED_FEW_ROWS activation rows.
#define VNNI_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
#define VNNI_SUFFIX _avx512vnni
#define VNNI_ZMM
#include "packed_vnni.h"
#undef VNNI_TARGET
#undef VNNI_SUFFIX
#undef VNNI_ZMM

// The variant's function for a packed type.
static tiles_fn tiles_for(int variant, uint32_t wtype) {
    static const tiles_fn table[3][5] = {
        {tiles_avx2_q4_1, tiles_avx2_q5_0, tiles_avx2_q8_0, tiles_avx2_q4_K, tiles_avx2_q6_K},
        {tiles_avxvnni_q4_1, tiles_avxvnni_q5_0, tiles_avxvnni_q8_0, tiles_avxvnni_q4_K, tiles_avxvnni_q6_K},
        {tiles_avx512vnni_q4_1, tiles_avx512vnni_q5_0, tiles_avx512vnni_q8_0, tiles_avx512vnni_q4_K, tiles_avx512vnni_q6_K},
    };
    const int k = wtype == T_Q4_1 ? 0 : wtype == T_Q5_0 ? 1 : wtype == T_Q8_0 ? 2 : wtype == T_Q4_K ? 3 : 4;
    return table[variant - CK_PACKED_AVX2][k];
}
#endif

// Rows [r0, r1) against the nt activation rows, one row at a time (the scalar kernels).
static void scalar_rows(uint32_t wtype, const uint8_t *wb, size_t w_row_bytes, int64_t nb, const uint8_t *ab, size_t a_row_bytes,
                        int64_t nt, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = wb + (size_t)r * w_row_bytes;
        for (int64_t t = 0; t < nt; t++) {
            const uint8_t *act = ab + (size_t)t * a_row_bytes;
            y[t * ldy + r] = wtype == T_Q4_1 ? row_q4_1(row, act, nb) : wtype == T_Q5_0 ? row_q5_0(row, act, nb)
                             : wtype == T_Q4_K ? row_q4_K(row, act, nb) : wtype == T_Q6_K ? row_q6_K(row, act, nb) : row_q8_0(row, act, nb);
        }
    }
}

// The CPU features each variant needs.
static uint32_t variant_needs(int variant) {
    const uint32_t avx2 = CK_CPU_AVX2 | CK_CPU_FMA | CK_CPU_F16C;
    return variant == CK_PACKED_AVX2 ? avx2 : variant == CK_PACKED_AVXVNNI ? avx2 | CK_CPU_AVXVNNI
           : variant == CK_PACKED_AVX512VNNI ? avx2 | CK_CPU_AVX512F | CK_CPU_AVX512VL | CK_CPU_AVX512VNNI : 0;
}

int ck_packed_variant(uint32_t features) {
#if defined(__x86_64__)
    // The EVEX encoding first where there are both: it takes the broadcast activation bytes
    // from memory in the same instruction, and has 32 registers (on an AMD Zen 5, bench-kernels
    // Q4_1 × 4 rows 15% and Q4_K 25% faster than the VEX one, the same code compiled).
    for (int v = CK_PACKED_AVX512VNNI; v > CK_PACKED_SCALAR; v--)
        if ((features & variant_needs(v)) == variant_needs(v)) return v;
#endif
    (void)features;
    return CK_PACKED_SCALAR;
}

int ck_packed_variant_available(int variant) {
#if defined(__x86_64__)
    if (variant < CK_PACKED_SCALAR || variant > CK_PACKED_AVX512VNNI) return 0;
    return (ck_cpu_features() & variant_needs(variant)) == variant_needs(variant);
#else
    return variant == CK_PACKED_SCALAR;
#endif
}

const char *ck_packed_variant_name(int variant) {
    static const char *const names[] = {"scalar", "avx2", "avx-vnni", "avx512-vnni"};
    return variant >= CK_PACKED_SCALAR && variant <= CK_PACKED_AVX512VNNI ? names[variant] : "unknown";
}

static int variant_in_use;
static pthread_once_t variant_chosen = PTHREAD_ONCE_INIT;

static void choose_variant(void) {
    variant_in_use = ck_packed_variant(ck_cpu_features());
    const char *env = getenv("MARTLET_KERNELS");
    if (!env || !*env) return;
    for (int v = CK_PACKED_SCALAR; v <= CK_PACKED_AVX512VNNI; v++)
        if (strcmp(env, ck_packed_variant_name(v)) == 0 && ck_packed_variant_available(v)) {
            variant_in_use = v;
            return;
        }
    fprintf(stderr, "MARTLET_KERNELS=%s: not a kernel variant this CPU has (scalar, avx2, avx-vnni, avx512-vnni); using %s\n", env,
            ck_packed_variant_name(variant_in_use));
}

int ck_packed_variant_in_use(void) {
    pthread_once(&variant_chosen, choose_variant);
    return variant_in_use;
}

int ck_matmul_packed(uint32_t wtype, const void *packed, const void *w, size_t w_row_bytes, int64_t n,
                     const void *a, size_t a_row_bytes, int64_t nt, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    return ck_matmul_packed_variant(ck_packed_variant_in_use(), wtype, packed, w, w_row_bytes, n, a, a_row_bytes, nt, y, ldy, r0, r1);
}

int ck_matmul_packed_variant(int variant, uint32_t wtype, const void *packed, const void *w, size_t w_row_bytes, int64_t n,
                             const void *a, size_t a_row_bytes, int64_t nt, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (!ck_packable(wtype)) return -1;
    if (!ck_packed_variant_available(variant)) return -1;
    const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;
    const int64_t nb = n / block_elems(wtype);
    // Whole tiles inside [r0, r1) take the vector kernel (rows [v0, v1)); the other rows, the
    // scalar one.
    int64_t v0 = r0, v1 = r0;
#if defined(__x86_64__)
    const int64_t tile0 = (r0 + 7) / 8, tile1 = r1 / 8;
    if (packed && variant != CK_PACKED_SCALAR && tile0 < tile1) {
        const tiles_fn tiles = tiles_for(variant, wtype);
        // Up to 32 activation rows a pass: every tile is read once a pass.
        for (int64_t t = 0; t < nt; t += 32) {
            const int g = nt - t < 32 ? (int)(nt - t) : 32;
            const uint8_t *rows[32];
            for (int k = 0; k < g; k++) rows[k] = ab + (size_t)(t + k) * a_row_bytes;
            tiles((const uint8_t *)packed, nb, rows, g, y + t * ldy, ldy, tile0, tile1);
        }
        v0 = tile0 * 8;
        v1 = tile1 * 8;
    }
#endif
    // The scalar kernel on the rows outside [v0, v1) only (a loop over all of them that skipped
    // the vector ones cost 3% of a decode step; calls for no rows, 0.7%).
    if (r0 < v0) scalar_rows(wtype, wb, w_row_bytes, nb, ab, a_row_bytes, nt, y, ldy, r0, v0);
    if (v1 < r1) scalar_rows(wtype, wb, w_row_bytes, nb, ab, a_row_bytes, nt, y, ldy, v1, r1);
    return 0;
}
