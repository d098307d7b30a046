import CKernels
import GGUF

extension Quant {
    /// The activation format paired with a weight type for its dot products.
    public static func activationType(for weights: GGMLType) -> GGMLType? {
        let t = ck_vec_dot_type(weights.rawValue)
        return t < 0 ? nil : GGMLType(rawValue: UInt32(t))
    }

    /// Reference twin of `ck_quantize_row` for Q8_0, Q8_1 and Q8_K (ggml's x86 quantizers).
    public static func quantizeActivationReference(_ type: GGMLType, _ x: [Float]) -> [UInt8] {
        func half(_ f: Float) -> [UInt8] { withUnsafeBytes(of: Float16(f).bitPattern.littleEndian) { Array($0) } }
        var out: [UInt8] = []
        switch type {
        case .q8_0, .q8_1:
            for ib in 0..<(x.count / 32) {
                let xb = x[(ib * 32)..<(ib * 32 + 32)]
                let amax = xb.map { abs($0) }.max()!
                let d = amax / 127, id: Float = amax != 0 ? 127 / amax : 0
                let qs = xb.map { Int8(($0 * id).rounded(.toNearestOrEven)) }
                out += half(d)
                if type == .q8_1 { out += half(d * Float(qs.reduce(0) { $0 + Int($1) })) }
                out += qs.map { UInt8(bitPattern: $0) }
            }
        case .q8_K:
            for ib in 0..<(x.count / 256) {
                let xb = Array(x[(ib * 256)..<(ib * 256 + 256)])
                var amax: Float = 0, mx: Float = 0
                for v in xb where abs(v) > amax { amax = abs(v); mx = v }
                var qs = [Int8](repeating: 0, count: 256)
                var d: Float = 0
                if amax != 0 {
                    let iscale = -127 / mx
                    qs = xb.map { Int8(min(127, Int((iscale * $0).rounded(.toNearestOrEven)))) }
                    d = 1 / iscale
                }
                out += withUnsafeBytes(of: d.bitPattern.littleEndian) { Array($0) }
                out += qs.map { UInt8(bitPattern: $0) }
                for g in 0..<16 {
                    let s = Int16(qs[(g * 16)..<(g * 16 + 16)].reduce(0) { $0 + Int($1) })
                    out += withUnsafeBytes(of: s.littleEndian) { Array($0) }
                }
            }
        default:
            preconditionFailure("not an activation format: \(type.name)")
        }
        return out
    }

    /// Reference twin of `ck_vec_dot`: both rows dequantized, multiplied and summed in Double.
    public static func vecDotReference(_ wtype: GGMLType, _ w: [UInt8], activation a: [UInt8], count n: Int) -> Double {
        let atype = activationType(for: wtype)!
        let wv = w.withUnsafeBytes { dequantizeReference(wtype, $0, count: n) }
        let av: [Float]
        switch atype {
        case .q8_0, .q8_1:
            let size = atype == .q8_0 ? 34 : 36, off = atype == .q8_0 ? 2 : 4
            av = (0..<n).map { i in
                let b = (i / 32) * size
                let d = Float(Float16(bitPattern: UInt16(a[b]) | UInt16(a[b + 1]) << 8))
                return Float(Int8(bitPattern: a[b + off + i % 32])) * d
            }
        case .q8_K:
            av = (0..<n).map { i in
                let b = (i / 256) * 292
                let d = a.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: b, as: Float.self) }
                return Float(Int8(bitPattern: a[b + 4 + i % 256])) * d
            }
        default:
            av = a.withUnsafeBytes { dequantizeReference(atype, $0, count: n) }
        }
        var s = 0.0
        for i in 0..<n { s += Double(wv[i]) * Double(av[i]) }
        return s
    }
}
