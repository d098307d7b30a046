import CKernels
import GGUF

/// The quantization formats the runtime reads, and their dequantizers: a plain Swift
/// reference (the slow twin, written from ggml's `dequantize_row_*`) and the C fast path.
public enum Quant {
    /// Types the runtime can multiply with; any other type is refused at load.
    public static let supported: Set<GGMLType> = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    /// The fast path (C): `n` elements of `type` at `src` into `dst`.
    public static func dequantize(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count n: Int) {
        let r = ck_dequantize_row(type.rawValue, src, dst, Int64(n))
        precondition(r == 0, "dequantize: unsupported type \(type.name)")
    }

    /// The reference twin, element by element, in the same arithmetic order as ggml.
    public static func dequantizeReference(_ type: GGMLType, _ src: UnsafeRawBufferPointer, count n: Int) -> [Float] {
        var y = [Float](repeating: 0, count: n)
        let bs = type.blockSize, ts = type.typeSize
        for ib in 0..<(n / bs) {
            let b = UnsafeRawBufferPointer(rebasing: src[(ib * ts)..<((ib + 1) * ts)])
            let o = ib * bs
            func f16(_ at: Int) -> Float { Float(Float16(bitPattern: b.loadUnaligned(fromByteOffset: at, as: UInt16.self))) }
            func u8(_ at: Int) -> Int { Int(b[at]) }
            func i8(_ at: Int) -> Int { Int(Int8(bitPattern: b[at])) }
            switch type {
            case .f32: y[o] = b.loadUnaligned(as: Float.self)
            case .f16: y[o] = f16(0)
            case .bf16: y[o] = Float(bitPattern: UInt32(b.loadUnaligned(as: UInt16.self)) << 16)
            case .q4_0:
                let d = f16(0)
                for j in 0..<16 {
                    y[o + j] = Float((u8(2 + j) & 0x0F) - 8) * d
                    y[o + j + 16] = Float((u8(2 + j) >> 4) - 8) * d
                }
            case .q4_1:
                let d = f16(0), m = f16(2)
                for j in 0..<16 {
                    y[o + j] = Float(u8(4 + j) & 0x0F) * d + m
                    y[o + j + 16] = Float(u8(4 + j) >> 4) * d + m
                }
            case .q5_0, .q5_1:
                let hasMin = type == .q5_1
                let d = f16(0), m = hasMin ? f16(2) : 0
                let qhAt = hasMin ? 4 : 2
                let qh = b.loadUnaligned(fromByteOffset: qhAt, as: UInt32.self)
                for j in 0..<16 {
                    let xh0 = Int(((qh >> UInt32(j)) << 4) & 0x10)
                    let xh1 = Int((qh >> UInt32(j + 12)) & 0x10)
                    let q = u8(qhAt + 4 + j)
                    if hasMin {
                        y[o + j] = Float((q & 0x0F) | xh0) * d + m
                        y[o + j + 16] = Float((q >> 4) | xh1) * d + m
                    } else {
                        y[o + j] = Float(((q & 0x0F) | xh0) - 16) * d
                        y[o + j + 16] = Float(((q >> 4) | xh1) - 16) * d
                    }
                }
            case .q8_0:
                let d = f16(0)
                for j in 0..<32 { y[o + j] = Float(i8(2 + j)) * d }
            case .q2_K:
                let d = f16(80), dmin = f16(82)
                var k = o, isc = 0, q = 16
                for _ in 0..<2 {
                    var shift = 0
                    for _ in 0..<4 {
                        for half in 0..<2 {
                            let sc = u8(isc); isc += 1
                            let dl = d * Float(sc & 0xF), ml = dmin * Float(sc >> 4)
                            for l in 0..<16 { y[k] = dl * Float((u8(q + l + 16 * half) >> shift) & 3) - ml; k += 1 }
                        }
                        shift += 2
                    }
                    q += 32
                }
            case .q3_K:
                let d = f16(108)
                var aux = (0..<3).map { b.loadUnaligned(fromByteOffset: 96 + 4 * $0, as: UInt32.self) }
                let tmp = aux[2]
                let k1: UInt32 = 0x03030303, k2: UInt32 = 0x0f0f0f0f
                aux = [(aux[0] & k2) | (((tmp >> 0) & k1) << 4), (aux[1] & k2) | (((tmp >> 2) & k1) << 4),
                       ((aux[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4), ((aux[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4)]
                let scales = aux.flatMap { w in (0..<4).map { Int(Int8(bitPattern: UInt8((w >> (8 * UInt32($0))) & 0xFF))) } }
                var k = o, isc = 0, q = 32, m = 1
                for _ in 0..<2 {
                    var shift = 0
                    for _ in 0..<4 {
                        for half in 0..<2 {
                            let dl = d * Float(scales[isc] - 32); isc += 1
                            for l in 0..<16 {
                                let li = l + 16 * half
                                y[k] = dl * Float(((u8(q + li) >> shift) & 3) - ((u8(li) & m) != 0 ? 0 : 4)); k += 1
                            }
                        }
                        shift += 2
                        m <<= 1
                    }
                    q += 32
                }
            case .q4_K, .q5_K:
                let d = f16(0), dmin = f16(2)
                let five = type == .q5_K
                let qs = five ? 48 : 16
                func scaleMin(_ j: Int) -> (Int, Int) {
                    let s = 4
                    if j < 4 { return (u8(s + j) & 63, u8(s + j + 4) & 63) }
                    return ((u8(s + j + 4) & 0xF) | ((u8(s + j - 4) >> 6) << 4), (u8(s + j + 4) >> 4) | ((u8(s + j) >> 6) << 4))
                }
                var k = o, q = qs, u1 = 1, u2 = 2
                for j in 0..<4 {
                    let (sc1, m1) = scaleMin(2 * j), (sc2, m2) = scaleMin(2 * j + 1)
                    let d1 = d * Float(sc1), mm1 = dmin * Float(m1), d2 = d * Float(sc2), mm2 = dmin * Float(m2)
                    for l in 0..<32 { y[k] = d1 * Float((u8(q + l) & 0xF) + (five && (u8(16 + l) & u1) != 0 ? 16 : 0)) - mm1; k += 1 }
                    for l in 0..<32 { y[k] = d2 * Float((u8(q + l) >> 4) + (five && (u8(16 + l) & u2) != 0 ? 16 : 0)) - mm2; k += 1 }
                    q += 32
                    u1 <<= 2
                    u2 <<= 2
                }
            case .q6_K:
                let d = f16(208)
                for n in 0..<2 {
                    let ql = 64 * n, qh = 128 + 32 * n, sc = 192 + 8 * n, yo = o + 128 * n
                    for l in 0..<32 {
                        let isc = l / 16
                        let q1 = ((u8(ql + l) & 0xF) | (((u8(qh + l) >> 0) & 3) << 4)) - 32
                        let q2 = ((u8(ql + l + 32) & 0xF) | (((u8(qh + l) >> 2) & 3) << 4)) - 32
                        let q3 = ((u8(ql + l) >> 4) | (((u8(qh + l) >> 4) & 3) << 4)) - 32
                        let q4 = ((u8(ql + l + 32) >> 4) | (((u8(qh + l) >> 6) & 3) << 4)) - 32
                        y[yo + l] = d * Float(i8(sc + isc)) * Float(q1)
                        y[yo + l + 32] = d * Float(i8(sc + isc + 2)) * Float(q2)
                        y[yo + l + 64] = d * Float(i8(sc + isc + 4)) * Float(q3)
                        y[yo + l + 96] = d * Float(i8(sc + isc + 6)) * Float(q4)
                    }
                }
            default:
                preconditionFailure("no reference dequantizer for \(type.name)")
            }
        }
        return y
    }

    /// The reference dot product: a plain sum in order.
    public static func dotReference(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var s: Float = 0
        for i in 0..<n { s += a[i] * b[i] }
        return s
    }
}
