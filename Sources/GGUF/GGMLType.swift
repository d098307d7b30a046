/// The ggml tensor types, with ggml's numbering and names (ggml.h `enum ggml_type`).
///
/// Only the block layout is known here (elements per block, bytes per block); what the
/// blocks mean belongs to the runtime.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    // 4 and 5 were Q4_2 and Q4_3, removed from ggml.
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case iq2_XXS = 16
    case iq2_XS = 17
    case iq3_XXS = 18
    case iq1_S = 19
    case iq4_NL = 20
    case iq3_S = 21
    case iq2_S = 22
    case iq4_XS = 23
    case i8 = 24
    case i16 = 25
    case i32 = 26
    case i64 = 27
    case f64 = 28
    case iq1_M = 29
    case bf16 = 30
    // 31...33 were the Q4_0_4_4 family, removed in favour of run-time repacking.
    case tq1_0 = 34
    case tq2_0 = 35
    // 36...38 were IQ4_NL_4_4 and friends, also removed.
    case mxfp4 = 39

    /// Elements per block (ggml: `type_traits[type].blck_size`).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_NL, .mxfp4: return 32
        default: return 256  // the k-quants and i-quants (QK_K)
        }
    }

    /// Bytes per block (ggml: `type_traits[type].type_size`, i.e. `sizeof(block_xxx)`).
    public var typeSize: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .f64, .i64: return 8
        case .i8: return 1
        case .i16: return 2
        case .i32: return 4
        case .q4_0: return 18      // f16 d, 16 bytes of nibbles
        case .q4_1: return 20      // f16 d, f16 m, 16 bytes of nibbles
        case .q5_0: return 22      // f16 d, 4 bytes qh, 16 bytes qs
        case .q5_1: return 24      // f16 d, f16 m, 4 bytes qh, 16 bytes qs
        case .q8_0: return 34      // f16 d, 32 int8
        case .q8_1: return 36      // f16 d, f16 s, 32 int8
        case .q2_K: return 84      // scales[16], qs[64], f16 d, f16 dmin
        case .q3_K: return 110     // hmask[32], qs[64], scales[12], f16 d
        case .q4_K: return 144     // f16 d, f16 dmin, scales[12], qs[128]
        case .q5_K: return 176     // f16 d, f16 dmin, scales[12], qh[32], qs[128]
        case .q6_K: return 210     // ql[128], qh[64], scales[16], f16 d
        case .q8_K: return 292     // f32 d, qs[256], bsums[16] int16
        case .iq2_XXS: return 66
        case .iq2_XS: return 74
        case .iq3_XXS: return 98
        case .iq1_S: return 50
        case .iq4_NL: return 18
        case .iq3_S: return 110
        case .iq2_S: return 82
        case .iq4_XS: return 136
        case .iq1_M: return 56
        case .tq1_0: return 54
        case .tq2_0: return 66
        case .mxfp4: return 17
        }
    }

    /// ggml's name for the type (`ggml_type_name`), as `Q4_K` or `F16`.
    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f64: return "F64"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .mxfp4: return "MXFP4"
        default: return String(describing: self).uppercased()
        }
    }

    /// Bytes taken by `count` elements, or nil when `count` is not a whole number of
    /// blocks or the size overflows.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: typeSize)
        return overflow ? nil : bytes
    }
}
