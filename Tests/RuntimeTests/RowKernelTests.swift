import CKernels
import Runtime
import Testing

/// Per-row kernels against their plain descriptions, on the vector path and its tail.
@Suite struct RowKernelTests {
    /// RMS norm: the squares (float products) summed in double into eight running sums,
    /// element i into sum i % 8, combined ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7)); the mean
    /// rounded to float; then x · scale · w. Same bits, for lengths with and without a tail.
    @Test(arguments: [576, 64, 37, 8, 3])
    func rmsNormEqualsThePlainDescriptionBitForBit(_ n: Int) {
        var rng = SplitMix64(seed: UInt64(n))
        func random() -> Float { Float(Int(rng.next() % 20001) - 10000) / 977 }
        let x = (0..<n).map { _ in random() }, w = (0..<n).map { _ in random() }
        var out = [Float](repeating: .nan, count: n)
        let eps: Float = 1e-5
        ck_rms_norm(x, w, &out, Int64(n), eps)
        var sums = [Double](repeating: 0, count: 8)
        for i in 0..<n { sums[i % 8] += Double(x[i] * x[i]) }
        let sum = ((sums[0] + sums[4]) + (sums[2] + sums[6])) + ((sums[1] + sums[5]) + (sums[3] + sums[7]))
        let mean = Float(sum / Double(n))
        let scale = 1 / (mean + eps).squareRoot()
        let expected = (0..<n).map { x[$0] * scale * w[$0] }
        #expect(out.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    /// Greedy choice: the first index of the largest value, NaNs passed over, and index 0 when
    /// x[0] is NaN (the scan `best = i when x[i] > x[best]`), whatever the position of the
    /// maximum relative to the vector width.
    @Test func argmaxIsTheFirstLargestPassingOverNaNs() {
        func scan(_ x: [Float]) -> Int {
            var best = 0
            for i in 1..<x.count where x[i] > x[best] { best = i }
            return best
        }
        var rng = SplitMix64(seed: 7)
        for n in [1, 2, 7, 8, 15, 16, 17, 33, 1000, 49152] {
            for trial in 0..<20 {
                // Few distinct values, so the maximum ties; some NaNs, infinities and zeros of both signs.
                var x = (0..<n).map { _ in Float(Int(rng.next() % 9) - 4) }
                for _ in 0..<(trial % 4) {
                    let i = Int(rng.next() % UInt64(n))
                    x[i] = [Float.nan, -.infinity, -0.0, 0.0, 1e30][Int(rng.next() % 5)]
                }
                if trial == 5 { x[0] = .nan }
                if trial == 6 { x[n - 1] = .infinity }
                let got = Int(ck_argmax(x, Int64(n)))
                #expect(got == scan(x), "n \(n), trial \(trial): \(got), want \(scan(x))")
            }
        }
    }
}
