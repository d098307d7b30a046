import CKernels
import Foundation
import Runtime
import Testing

/// The attention kernel over paged half-precision keys and values computes exactly the
/// operations of the plain description below, in each variant this CPU has (AVX2 and AVX-512
/// read rows in place, up to three heads at a time, for head sizes that are multiples of 32 up
/// to 256, and go row by row otherwise, as the scalar variant always does): same bits.
@Suite struct AttentionTests {
    /// (head size of keys, of values, query heads per KV head, last position): the vector
    /// paths' heads in batches of three and their remainders, value sizes that end in a part
    /// of 32 or 16, the sizes only the row-by-row path takes, and positions from 2 that end in a
    /// full group of eight rows or in 4, 5, 6 or 1 of them (AVX-512 takes the rows in pairs).
    @Test(arguments: [(64, 64, 3, 45), (96, 96, 1, 46), (256, 256, 4, 45), (40, 40, 3, 45), (288, 288, 2, 45), (64, 64, 7, 47),
                      (128, 72, 2, 46), (64, 104, 5, 45), (64, 64, 3, 50), (128, 128, 6, 49)])
    func pagedAttentionEqualsThePlainDescriptionBitForBit(_ shape: (Int, Int, Int, Int)) {
        let (headDim, headDimV, groups, last) = shape
        let blockSize = 16, blocks = 4, first = 2
        let table: [Int32] = [2, 0, 3, 1]  // positions live in shuffled blocks
        let rowStride = max(headDim, headDimV), blockStride = blockSize * rowStride
        var rng = SplitMix64(seed: UInt64(headDim * 100_000 + headDimV * 100 + groups * 10 + last))
        func random() -> Float { Float(Int(rng.next() % 2001) - 1000) / 500 }
        let q = (0..<(groups * headDim)).map { _ in random() }
        let kHalf = (0..<(blocks * blockStride)).map { _ in ck_fp32_to_fp16(random()) }
        let vHalf = (0..<(blocks * blockStride)).map { _ in ck_fp32_to_fp16(random()) }
        let scale = 1 / Float(headDim).squareRoot()

        func row(_ halves: [UInt16], _ j: Int, _ width: Int) -> [Float] {
            let base = Int(table[j / blockSize]) * blockStride + (j % blockSize) * rowStride
            return (0..<width).map { ck_fp16_to_fp32(halves[base + $0]) }
        }
        var expected = [Float](repeating: 0, count: groups * headDimV)
        for g in 0..<groups {
            let qg = Array(q[(g * headDim)..<((g + 1) * headDim)])
            var s = [Float](repeating: 0, count: last + 1)
            var m = -Float.infinity
            for j in first...last {
                s[j] = ck_dot_f32(qg, row(kHalf, j, headDim), Int64(headDim)) * scale
                m = max(m, s[j])
            }
            // exp as the kernels compute it; the sum in eight running sums (position first + i
            // into sum i % 8), combined pairwise.
            var sums = [Float](repeating: 0, count: 8)
            for j in first...last {
                s[j] = ck_expf(s[j] - m)
                sums[(j - first) % 8] += s[j]
            }
            let sum = ((sums[0] + sums[4]) + (sums[2] + sums[6])) + ((sums[1] + sums[5]) + (sums[3] + sums[7]))
            let inv = 1 / sum
            for j in first...last {
                let p = s[j] * inv
                let v = row(vHalf, j, headDimV)
                // One fused multiply-add per value.
                for d in 0..<headDimV { expected[g * headDimV + d] = expected[g * headDimV + d].addingProduct(p, v[d]) }
            }
        }
        let variants = [CK_ATTEND_SCALAR, CK_ATTEND_AVX2, CK_ATTEND_AVX512].map { Int32($0) }
        for variant in variants where ck_attend_variant_available(variant) == 1 {
            var scores = [Float](repeating: 0, count: groups * (last + 1))
            var out = [Float](repeating: .nan, count: groups * headDimV)
            #expect(ck_attend_group_variant(variant, q, Int64(groups), Int64(headDim), Int64(headDimV), scale, kHalf, vHalf, table,
                                            Int64(blockSize), Int64(blockStride), Int64(rowStride), Int64(first), Int64(last),
                                            &scores, &out) == 0)
            #expect(out.map(\.bitPattern) == expected.map(\.bitPattern), "variant \(variant)")
        }
        // The entry point the model calls takes one of them.
        var scores = [Float](repeating: 0, count: groups * (last + 1))
        var out = [Float](repeating: .nan, count: groups * headDimV)
        ck_attend_group(q, Int64(groups), Int64(headDim), Int64(headDimV), scale, kHalf, vHalf, table, Int64(blockSize),
                        Int64(blockStride), Int64(rowStride), Int64(first), Int64(last), &scores, &out)
        #expect(out.map(\.bitPattern) == expected.map(\.bitPattern))
    }
}
