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

/// The calling thread's kernel thread id (Linux), or -1.
int32_t ck_thread_id(void);

/// Bytes of a saved CPU affinity (Linux's cpu_set_t).
#define CK_AFFINITY_BYTES 128
/// Pins the calling thread (and the threads it starts after) to the lowest-numbered CPU it
/// may run on, saving its previous affinity in `saved` (CK_AFFINITY_BYTES); returns that
/// CPU, or -1. ck_restore_affinity puts the saved one back (0 on success).
int ck_pin_to_one_cpu(void *saved);
int ck_restore_affinity(const void *saved);
/// How many CPUs the calling thread may run on (its affinity), or -1.
int ck_usable_cpus(void);

/// Reads `bytes` bytes (32-byte aligned for the vector path) and returns their sum as 64-bit
/// words, so the reads cannot be optimized away: the read-bandwidth probe.
uint64_t ck_read_sum(const void *data, size_t bytes);
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

/// The activation format ggml pairs with a weight type for its dot products (ggml
/// `vec_dot_type`): Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the k-quants, F16,
/// BF16 or F32 for those. Returns a ggml type number, or -1 for an unsupported weight type.
int ck_vec_dot_type(uint32_t wtype);

/// Bytes of a row of `n` elements of `type` (n a whole number of blocks).
size_t ck_row_bytes(uint32_t type, int64_t n);

/// Quantizes one activation row into `atype` (as ggml's quantize_row_q8_0/q8_1/q8_K, with
/// round-half-to-even like its x86 versions; F16/BF16 convert, F32 copies).
void ck_quantize_row(uint32_t atype, const float *x, void *y, int64_t n);

/// Dot product of a weight row (`wtype`) with an activation row already in
/// ck_vec_dot_type(wtype): integer sums per block, scaled in float, as ggml does.
float ck_vec_dot(uint32_t wtype, const void *w, const void *a, int64_t n);

/// The fastest kernel this CPU has for the same dot product (AVX2 for Q4_0, Q4_1, Q5_0,
/// Q5_1, Q8_0, Q4_K and Q6_K; otherwise ck_vec_dot). ck_matmul_q uses the same kernels.
float ck_vec_dot_fast(uint32_t wtype, const void *w, const void *a, int64_t n);

/// y[t * ldy + r] = ck_vec_dot_fast(W row r, activation row t) for rows [r0, r1), tokens [0, nt);
/// activation rows are `a_row_bytes` apart.
int ck_matmul_q(uint32_t wtype, const void *w, size_t w_row_bytes, int64_t n,
                const void *a, size_t a_row_bytes, int64_t nt, float *y, int64_t ldy, int64_t r0, int64_t r1);

/// Weight types the runtime repacks at load into tiles of eight rows (see packed.c); their
/// matrices always go through ck_matmul_packed, packed or not, so their arithmetic is one.
int ck_packable(uint32_t wtype);
/// Bytes of the packed copy of a matrix's whole tiles (the first rows / 8 · 8 rows); 0 when
/// the type or shape is not packed.
size_t ck_packed_bytes(uint32_t wtype, int64_t rows, int64_t n);
/// Writes the packed copy (ck_packed_bytes of it). Returns 0, or -1 when not packable.
int ck_pack(uint32_t wtype, const void *w, size_t w_row_bytes, int64_t rows, int64_t n, void *out);
/// As ck_matmul_q for a packable type: rows [r0, r1) of W against `nt` activation rows, whole
/// tiles from `packed` (may be NULL: then every row from `w`, the file's format), the other
/// rows from `w`, all with the same arithmetic. Returns 0, or -1 for a type not packable.
int ck_matmul_packed(uint32_t wtype, const void *packed, const void *w, size_t w_row_bytes, int64_t n,
                     const void *a, size_t a_row_bytes, int64_t nt, float *y, int64_t ldy, int64_t r0, int64_t r1);
/// The kernel variants of ck_matmul_packed: scalar, AVX2, and VNNI's vpdpbusd in either
/// encoding (AVX-VNNI, or AVX512-VNNI with VL; the second preferred where there are both).
/// All give the same bits.
enum { CK_PACKED_SCALAR = 0, CK_PACKED_AVX2 = 1, CK_PACKED_AVXVNNI = 2, CK_PACKED_AVX512VNNI = 3 };
/// The variant ck_matmul_packed uses on a CPU with `features` (CK_CPU_* bits).
int ck_packed_variant(uint32_t features);
/// The variant ck_matmul_packed uses: ck_packed_variant of this CPU, or the one the environment
/// variable MARTLET_KERNELS names (ck_packed_variant_name) where the CPU has it, for comparisons
/// on one machine (another name is reported on stderr). Chosen once, on the first call.
int ck_packed_variant_in_use(void);
/// A variant's name: "scalar", "avx2", "avx-vnni" or "avx512-vnni".
const char *ck_packed_variant_name(int variant);
/// Whether this CPU has a variant's instructions (1 or 0).
int ck_packed_variant_available(int variant);
/// ck_matmul_packed with a chosen variant (for tests and benchmarks); returns -1 when this CPU
/// lacks it.
int ck_matmul_packed_variant(int variant, uint32_t wtype, const void *packed, const void *w, size_t w_row_bytes, int64_t n,
                             const void *a, size_t a_row_bytes, int64_t nt, float *y, int64_t ldy, int64_t r0, int64_t r1);
/// y = x / sqrt(mean(x^2) + eps) * w (w may be NULL for no weight), over n elements.
void ck_rms_norm(const float *x, const float *w, float *y, int64_t n, float eps);

/// The rotation of position `pos` for ck_rope: cs[2i], cs[2i+1] = cos and sin of pair i's
/// angle, for the n_rot/2 pairs. freq_factors (n_rot/2 values) divide the frequencies when
/// not NULL (Llama 3 rope_freqs). The same for every head, so computed once per token.
void ck_rope_angles(int64_t n_rot, int64_t pos, float freq_base, float freq_scale, const float *freq_factors, float *cs);

/// Rotates pairs of `x` (one head) by the angles of ck_rope_angles: the first n_rot
/// dimensions, adjacent pairs (neox = 0, Llama) or halves (neox = 1, Qwen, Gemma).
void ck_rope(float *x, int64_t n_rot, const float *cs, int neox);

/// out = silu(g) * u   or   gelu_tanh(g) * u, element-wise.
void ck_swiglu(const float *g, const float *u, float *out, int64_t n);
void ck_geglu(const float *g, const float *u, float *out, int64_t n);

/// The index of the largest of x[0..n), the lowest among equals, NaNs passed over (x[0] when it
/// is NaN): greedy sampling's choice. n ≥ 1.
int64_t ck_argmax(const float *x, int64_t n);

/// exp(x) as attention's softmax computes it (ggml's vector polynomial, within 2 ulp).
float ck_expf(float x);

/// Sampling weights relative to the best token: w[j] = exp((z[i] − zmax) · scale) for
/// i = index[j] (or j when index is NULL), as ck_expf computes it (0 below e^−87); returns
/// their sum, added in order.
double ck_exp_weights(const float *z, const int32_t *index, int64_t n, float zmax, float scale, double *w);

/// The `groups` query heads that share one KV head (grouped-query attention), at q, q +
/// head_dim, …, attending over a sequence's cached keys and values, stored as F16 in paged
/// blocks: position j lives in block block_table[j / block_size], slot j % block_size, at
/// k_base + block * block_stride + slot * row_stride (values likewise from v_base). Positions
/// [first, last] are attended; each key and value row is read for up to three heads at once,
/// and each head's result is computed in the same order whatever the group. Writes out, out +
/// head_dim_v, …; `scores` needs groups * (last + 1) floats.
void ck_attend_group(const float *q, int64_t groups, int64_t head_dim, int64_t head_dim_v, float scale,
                     const uint16_t *k_base, const uint16_t *v_base,
                     const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                     int64_t first, int64_t last, float *scores, float *out);
/// The variants of ck_attend_group: row by row (any head size), AVX2, and AVX-512 (two key rows
/// or sixteen values a register). The vector ones take head sizes that are multiples of 32 (keys)
/// and 8 (values), at most 256, and go row by row otherwise. All give the same bits.
enum { CK_ATTEND_SCALAR = 0, CK_ATTEND_AVX2 = 1, CK_ATTEND_AVX512 = 2 };
/// Whether this CPU has a variant's instructions (1 or 0).
int ck_attend_variant_available(int variant);
/// ck_attend_group with a chosen variant (for tests and benchmarks); returns -1 when this CPU
/// lacks it, 0 otherwise. ck_attend_group uses the widest one the CPU has.
int ck_attend_group_variant(int variant, const float *q, int64_t groups, int64_t head_dim, int64_t head_dim_v, float scale,
                            const uint16_t *k_base, const uint16_t *v_base,
                            const int32_t *block_table, int64_t block_size, int64_t block_stride, int64_t row_stride,
                            int64_t first, int64_t last, float *scores, float *out);

#ifdef __cplusplus
}
#endif
#endif
