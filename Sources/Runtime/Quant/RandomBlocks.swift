import GGUF

/// Random blocks of a type, with scale fields set to moderate half floats so values are finite:
/// weights for the kernels' tests and micro-benchmarks.
public func randomBlocks(_ type: GGMLType, blocks: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    var bytes = (0..<(blocks * type.typeSize)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    func half(_ at: Int) {
        let v = Float16(Float(Int(rng.next() % 2001) - 1000) / 4000)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { for (i, b) in $0.enumerated() { bytes[at + i] = b } }
    }
    for ib in 0..<blocks {
        let o = ib * type.typeSize
        switch type {
        case .f16: half(o)
        case .f32:
            let v = Float(Int(rng.next() % 2001) - 1000) / 100
            withUnsafeBytes(of: v.bitPattern.littleEndian) { for (i, b) in $0.enumerated() { bytes[o + i] = b } }
        case .bf16:
            let v = Float(Int(rng.next() % 2001) - 1000) / 100
            withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian) { for (i, b) in $0.enumerated() { bytes[o + i] = b } }
        case .q4_0, .q5_0, .q8_0: half(o)
        case .q4_1, .q5_1, .q4_K, .q5_K: half(o); half(o + 2)
        case .q2_K: half(o + 80); half(o + 82)
        case .q3_K: half(o + 108)
        case .q6_K: half(o + 208)
        default: break
        }
    }
    return bytes
}
