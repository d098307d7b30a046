#include "CKernels.h"
#include "ck_internal.h"
#include <math.h>
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
// scaled sum). The vector kernel and the scalar one (rows outside whole tiles, CPUs without
// AVX2) give the same bits.
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
//   S = Σ_k sc_k · Σ_{group k} q·a − 32 · Σ_k sc_k · bsum_k,   acc = fma(d·da, S, acc)
// Tile super-block: half d[8], sc[k][r] (128 bytes), then 32 vectors of low nibbles (vector v:
// elements 4v..4v+3 of each row in the low nibbles, 4(v+32).. in the high ones) and 16 of
// high bits (vector u, bits 2i..2i+1 of byte 4r+k: element 4(u+16i)+k). 1,680 bytes, as the file.

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

static void pack_q6_K(const uint8_t *w, size_t w_row_bytes, int64_t tile, int64_t i, uint8_t *dst) {
    memset(dst + 144, 0, 1536);
    for (int r = 0; r < 8; r++) {
        const uint8_t *b = w + (size_t)(tile * 8 + r) * w_row_bytes + (size_t)i * 210;
        memcpy(dst + 2 * r, b + 208, 2);
        for (int k = 0; k < 16; k++) dst[16 + 8 * k + r] = b[192 + k];
        for (int e = 0; e < 64; e++)
            for (int k = 0; k < 4; k++) {
                const int q = q6_value(b, 4 * e + k);
                dst[144 + 32 * (e % 32) + 4 * r + k] |= (uint8_t)((q & 0x0F) << (e < 32 ? 0 : 4));
                dst[144 + 1024 + 32 * (e % 16) + 4 * r + k] |= (uint8_t)((q >> 4) << (2 * (e / 16)));
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

// A Q8_K activation block's scale and its sixteen sums of sixteen.
static inline void q8_K_header(const uint8_t *ab, float *da, int16_t bs[16]) {
    memcpy(da, ab, 4);
    memcpy(bs, ab + 260, 32);
}

// (lo, hi) as the two 16-bit halves of every 32-bit lane, for _mm256_madd_epi16.
AVX2 INLINE __m256i pair16(int16_t lo, int16_t hi) { return _mm256_set1_epi32((int32_t)(uint16_t)lo | ((int32_t)(uint16_t)hi << 16)); }

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
INLINE void prefetch_block(const uint8_t *p, int bytes, int fetch) {
    if (!fetch) return;
    for (int l = 0; l < bytes; l += 64) _mm_prefetch((const char *)p + 6144 + l, _MM_HINT_T0);
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

// Eight rows (one tile) against nt ≤ 4 activation rows; da/sa: the activation blocks'
// scales and scaled sums as floats, [nt][nb]. Each kernel leaves acc[t] = the eight rows'
// results for activation row t.
AVX2 INLINE void tile_q4_1(const uint8_t *tile, const uint8_t **a, const int nt, int64_t nb,
                           const float *da, const float *sa, __m256 *acc, int fetch) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 160) {
        prefetch_block(tile, 160, fetch);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + 16)));
        __m256i lo[4], hi[4];
        for (int g = 0; g < 4; g++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(tile + 32 + 32 * g));
            lo[g] = _mm256_and_si256(q, m4);
            hi[g] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        }
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
    const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10), ones = _mm256_set1_epi16(1);
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 176) {
        prefetch_block(tile, 176, fetch);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        const __m256i h = _mm256_loadu_si256((const __m256i *)(tile + 16));
        // q = nibble | fifth bit · 16, in 0..31; element 4g+k's bit sits at bit 2g, 16+4g+k's at 2g+1.
        __m256i lo[4], hi[4];
        for (int g = 0; g < 4; g++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(tile + 48 + 32 * g));
            const __m256i hl = 2 * g <= 4 ? _mm256_slli_epi16(h, 4 - 2 * g) : _mm256_srli_epi16(h, 2 * g - 4);
            const __m256i hh = 2 * g + 1 <= 4 ? _mm256_slli_epi16(h, 3 - 2 * g) : _mm256_srli_epi16(h, 2 * g - 3);
            lo[g] = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_and_si256(hl, bit4));
            hi[g] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), _mm256_and_si256(hh, bit4));
        }
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

AVX2 static void tiles_q5_0(const uint8_t *packed, int64_t nb, const uint8_t **a, int nt, float *y, int64_t ldy, int64_t tile0, int64_t tile1) {
    float da[nt * nb];
    int32_t sum16[nt * nb];  // 16 · Σ a of each activation block
    for (int t = 0; t < nt; t++)
        for (int64_t i = 0; i < nb; i++) {
            da[t * nb + i] = h2f_f16c(a[t] + i * 34);
            const int8_t *q8 = (const int8_t *)(a[t] + i * 34 + 2);
            int32_t sum = 0;
            for (int j = 0; j < 32; j++) sum += q8[j];
            sum16[t * nb + i] = 16 * sum;
        }
#define Q5_0_KERNEL(G) tile_q5_0(p, a + t0, G, nb, da + t0 * nb, sum16 + t0 * nb, acc, t0 == 0)
    TILE_LOOP((size_t)nb * 176, Q5_0_KERNEL)
#undef Q5_0_KERNEL
}

// Q4_K: one super-block at a time, each half of each pair of sub-blocks unpacked once for
// every activation row.
AVX2 INLINE void tile_q4_K(const uint8_t *tile, const uint8_t **a, const int nt, int64_t nb, __m256 *acc, int fetch) {
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
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        const __m256 dmw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + 16)));
        __m256i mins[4];  // (m_2k, m_2k+1) of each row
        for (int k = 0; k < 4; k++) {
            const __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(tile + 96 + 16 * k)));
            const __m256i hi = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(tile + 96 + 16 * k + 8)));
            mins[k] = _mm256_or_si256(lo, _mm256_slli_epi32(hi, 16));
        }
        for (int t = 0; t < nt; t++) {
            float da;
            int16_t bs[16];
            q8_K_header(a[t] + i * 292, &da, bs);
            __m256i m = _mm256_setzero_si256();
            for (int k = 0; k < 4; k++) {
                const int16_t b0 = (int16_t)(bs[4 * k] + bs[4 * k + 1]), b1 = (int16_t)(bs[4 * k + 2] + bs[4 * k + 3]);
                m = _mm256_add_epi32(m, _mm256_madd_epi16(mins[k], pair16(b0, b1)));
            }
            const __m256 vda = _mm256_set1_ps(da);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, vda), _mm256_cvtepi32_ps(s[t]), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmw, vda), _mm256_cvtepi32_ps(m), acc[t]);
        }
    }
}

AVX2 static void tiles_q4_K(const uint8_t *packed, int64_t nb, const uint8_t **a, int nt, float *y, int64_t ldy, int64_t tile0, int64_t tile1) {
#define Q4_K_KERNEL(G) tile_q4_K(p, a + t0, G, nb, acc, t0 == 0)
    TILE_LOOP((size_t)nb * 1184, Q4_K_KERNEL)
#undef Q4_K_KERNEL
}

// Q6_K's correction for its offset of 32: 32 · Σ_k sc_k · (the activation's sum over group k),
// for the eight rows.
AVX2 INLINE __m256i q6_K_offset(const uint8_t *tile, const int16_t bs[16]) {
    const __m256i low16 = _mm256_set1_epi32(0xFFFF);
    __m256i c = _mm256_setzero_si256();
    for (int k = 0; k < 16; k += 2) {
        const __m256i s0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(tile + 16 + 8 * k)));
        const __m256i s1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(tile + 24 + 8 * k)));
        const __m256i pair = _mm256_or_si256(_mm256_and_si256(s0, low16), _mm256_slli_epi32(s1, 16));
        c = _mm256_add_epi32(c, _mm256_madd_epi16(pair, pair16(bs[k], bs[k + 1])));
    }
    return _mm256_slli_epi32(c, 5);
}

// sc_k of each row in both 16-bit halves of its lane (sign-extended), for _mm256_madd_epi16.
AVX2 INLINE __m256i q6_K_scale(const uint8_t *tile, int k) {
    const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(tile + 16 + 8 * k)));
    return _mm256_or_si256(_mm256_and_si256(sc, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(sc, 16));
}

// Element group e (0..63) of a tile block, as eight rows' four 6-bit quants: the nibble from
// vector e % 32 (low half for e < 32), the high bits from vector e % 16 at bits 2·(e / 16).
AVX2 INLINE __m256i q6_K_unpack(__m256i n, __m256i h, int e) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    const int part = e / 16;
    const __m256i lo = _mm256_and_si256(e < 32 ? n : _mm256_srli_epi16(n, 4), m4);
    const __m256i hi = part == 0 ? _mm256_slli_epi16(h, 4) : part == 1 ? _mm256_slli_epi16(h, 2) : part == 2 ? h : _mm256_srli_epi16(h, 2);
    return _mm256_or_si256(lo, _mm256_and_si256(hi, m30));
}

// Q6_K: for each 16-element group k, its four element groups unpacked once for every
// activation row; pairs of products summed in 16 bits (≤ 2·2·63·127), then scaled by sc_k.
AVX2 INLINE void tile_q6_K(const uint8_t *tile, const uint8_t **a, const int nt, int64_t nb, __m256 *acc, int fetch) {
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 1680) {
        prefetch_block(tile, 1680, fetch);
        __m256i s[4];
        for (int t = 0; t < nt; t++) s[t] = _mm256_setzero_si256();
        const uint8_t *nv = tile + 144, *hv = tile + 144 + 1024;
        for (int k = 0; k < 16; k++) {
            __m256i g[4];
            for (int j = 0; j < 4; j++) {
                const int e = 4 * k + j;
                g[j] = q6_K_unpack(_mm256_loadu_si256((const __m256i *)(nv + 32 * (e % 32))), _mm256_loadu_si256((const __m256i *)(hv + 32 * (e % 16))), e);
            }
            const __m256i scale = q6_K_scale(tile, k);
            for (int t = 0; t < nt; t++) {
                int32_t x[4];
                memcpy(x, a[t] + i * 292 + 4 + 16 * k, 16);
                const __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(g[0], _mm256_set1_epi32(x[0])), _mm256_maddubs_epi16(g[1], _mm256_set1_epi32(x[1])));
                const __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(g[2], _mm256_set1_epi32(x[2])), _mm256_maddubs_epi16(g[3], _mm256_set1_epi32(x[3])));
                s[t] = _mm256_add_epi32(s[t], _mm256_add_epi32(_mm256_madd_epi16(p0, scale), _mm256_madd_epi16(p1, scale)));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        for (int t = 0; t < nt; t++) {
            float da;
            int16_t bs[16];
            q8_K_header(a[t] + i * 292, &da, bs);
            const __m256i st = _mm256_sub_epi32(s[t], q6_K_offset(tile, bs));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(da)), _mm256_cvtepi32_ps(st), acc[t]);
        }
    }
}

// The same sums for one activation row (decode), in another order: each high-bit vector and
// each nibble vector is read and unpacked once for the four groups it feeds (u, u + 16,
// u + 32, u + 48), so the tile is unpacked with fewer instructions. The integer sums are exact
// either way, so the result is the same.
AVX2 INLINE void tile_q6_K_one(const uint8_t *tile, const uint8_t *a, int64_t nb, __m256 *acc, int fetch) {
    acc[0] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 1680) {
        prefetch_block(tile, 1680, fetch);
        const uint8_t *nv = tile + 144, *hv = tile + 144 + 1024, *x8 = a + i * 292 + 4;
        __m256i s = _mm256_setzero_si256();
        for (int m = 0; m < 4; m++) {
            // Groups k = m + 4·part for part 0..3; their element groups e = 4k + j = u + 16·part, u = 4m + j.
            __m256i scale[4];
            for (int part = 0; part < 4; part++) scale[part] = q6_K_scale(tile, m + 4 * part);
            for (int jp = 0; jp < 4; jp += 2) {
                __m256i p[4];
                for (int j = jp; j < jp + 2; j++) {
                    const int u = 4 * m + j;
                    const __m256i h = _mm256_loadu_si256((const __m256i *)(hv + 32 * u));
                    const __m256i n0 = _mm256_loadu_si256((const __m256i *)(nv + 32 * u));
                    const __m256i n1 = _mm256_loadu_si256((const __m256i *)(nv + 32 * (u + 16)));
                    for (int part = 0; part < 4; part++) {
                        const int e = u + 16 * part;
                        int32_t x;
                        memcpy(&x, x8 + 4 * e, 4);
                        const __m256i prod = _mm256_maddubs_epi16(q6_K_unpack(part % 2 ? n1 : n0, h, e), _mm256_set1_epi32(x));
                        p[part] = j == jp ? prod : _mm256_add_epi16(p[part], prod);
                    }
                }
                for (int part = 0; part < 4; part++) s = _mm256_add_epi32(s, _mm256_madd_epi16(p[part], scale[part]));
            }
        }
        float da;
        int16_t bs[16];
        q8_K_header(a + i * 292, &da, bs);
        s = _mm256_sub_epi32(s, q6_K_offset(tile, bs));
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        acc[0] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(da)), _mm256_cvtepi32_ps(s), acc[0]);
    }
}

AVX2 static void tiles_q6_K(const uint8_t *packed, int64_t nb, const uint8_t **a, int nt, float *y, int64_t ldy, int64_t tile0, int64_t tile1) {
#define Q6_K_KERNEL(G) if (G == 1) tile_q6_K_one(p, a[t0], nb, acc, t0 == 0); else tile_q6_K(p, a + t0, G, nb, acc, t0 == 0)
    TILE_LOOP((size_t)nb * 1680, Q6_K_KERNEL)
#undef Q6_K_KERNEL
}

AVX2 INLINE void tile_q8_0(const uint8_t *tile, const uint8_t **a, const int nt, int64_t nb,
                           const float *da, const float *sa, __m256 *acc, int fetch) {
    (void)sa;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, tile += 272) {
        prefetch_block(tile, 272, fetch);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tile));
        // Signed × signed as unsigned × signed: |w| times a with w's sign.
        __m256i q[8], u[8];
        for (int g = 0; g < 8; g++) {
            q[g] = _mm256_loadu_si256((const __m256i *)(tile + 16 + 32 * g));
            u[g] = _mm256_sign_epi8(q[g], q[g]);
        }
        for (int t = 0; t < nt; t++) {
            int32_t x[8];
            memcpy(x, a[t] + i * 34 + 2, 32);
            // A product pair can reach 2·128·127, so each is widened to 32 bits on its own.
            __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(u[0], _mm256_sign_epi8(_mm256_set1_epi32(x[0]), q[0])), ones);
            for (int g = 1; g < 8; g++)
                s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(u[g], _mm256_sign_epi8(_mm256_set1_epi32(x[g]), q[g])), ones));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(da[t * nb + i])), _mm256_cvtepi32_ps(s), acc[t]);
        }
    }
}

#define TILES(name, kmacro, ablock, has_sum) \
AVX2 static void name(const uint8_t *packed, int64_t nb, const uint8_t **a, int nt, float *y, int64_t ldy, int64_t tile0, int64_t tile1) { \
    float da[nt * nb], sa[has_sum ? nt * nb : 1]; \
    for (int t = 0; t < nt; t++) \
        for (int64_t i = 0; i < nb; i++) { \
            da[t * nb + i] = h2f_f16c(a[t] + i * ablock); \
            if (has_sum) sa[t * nb + i] = h2f_f16c(a[t] + i * ablock + 2); \
        } \
    TILE_LOOP((size_t)nb * (size_t)tile_block(has_sum ? T_Q4_1 : T_Q8_0), kmacro) \
}
#define Q4_1_KERNEL(G) tile_q4_1(p, a + t0, G, nb, da + t0 * nb, sa + t0 * nb, acc, t0 == 0)
#define Q8_0_KERNEL(G) tile_q8_0(p, a + t0, G, nb, da + t0 * nb, sa, acc, t0 == 0)
TILES(tiles_q4_1, Q4_1_KERNEL, 36, 1)
TILES(tiles_q8_0, Q8_0_KERNEL, 34, 0)
#endif

int ck_matmul_packed(uint32_t wtype, const void *packed, const void *w, size_t w_row_bytes, int64_t n,
                     const void *a, size_t a_row_bytes, int64_t nt, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (!ck_packable(wtype)) return -1;
    const uint8_t *wb = (const uint8_t *)w, *ab = (const uint8_t *)a;
    const int64_t nb = n / block_elems(wtype);
    // Whole tiles inside [r0, r1) take the vector kernel (rows [v0, v1)); the other rows, the
    // scalar one.
    int64_t v0 = r0, v1 = r0;
#if defined(__x86_64__)
    const uint32_t need = CK_CPU_AVX2 | CK_CPU_FMA | CK_CPU_F16C;
    const int64_t tile0 = (r0 + 7) / 8, tile1 = r1 / 8;
    if (packed && (ck_cpu_features() & need) == need && tile0 < tile1) {
        // Up to 32 activation rows a pass: every tile is read once a pass.
        for (int64_t t = 0; t < nt; t += 32) {
            const int g = nt - t < 32 ? (int)(nt - t) : 32;
            const uint8_t *rows[32];
            for (int k = 0; k < g; k++) rows[k] = ab + (size_t)(t + k) * a_row_bytes;
            if (wtype == T_Q4_1) tiles_q4_1((const uint8_t *)packed, nb, rows, g, y + t * ldy, ldy, tile0, tile1);
            else if (wtype == T_Q5_0) tiles_q5_0((const uint8_t *)packed, nb, rows, g, y + t * ldy, ldy, tile0, tile1);
            else if (wtype == T_Q4_K) tiles_q4_K((const uint8_t *)packed, nb, rows, g, y + t * ldy, ldy, tile0, tile1);
            else if (wtype == T_Q6_K) tiles_q6_K((const uint8_t *)packed, nb, rows, g, y + t * ldy, ldy, tile0, tile1);
            else tiles_q8_0((const uint8_t *)packed, nb, rows, g, y + t * ldy, ldy, tile0, tile1);
        }
        v0 = tile0 * 8;
        v1 = tile1 * 8;
    }
#endif
    for (int64_t r = r0; r < r1; r++) {
        if (r >= v0 && r < v1) continue;
        const uint8_t *row = wb + (size_t)r * w_row_bytes;
        for (int64_t t = 0; t < nt; t++) {
            const uint8_t *act = ab + (size_t)t * a_row_bytes;
            y[t * ldy + r] = wtype == T_Q4_1 ? row_q4_1(row, act, nb) : wtype == T_Q5_0 ? row_q5_0(row, act, nb)
                             : wtype == T_Q4_K ? row_q4_K(row, act, nb) : wtype == T_Q6_K ? row_q6_K(row, act, nb) : row_q8_0(row, act, nb);
        }
    }
    return 0;
}
