import CKernels
import Foundation
import Testing

/// The gated activations against the same functions computed in double precision, over the
/// whole range a feed-forward layer produces (and far beyond it, where exp overflows), on
/// the vector path and its tail.
@Suite struct ActivationTests {
    /// Inputs from −120 to 120, denser near zero; 1,003 of them, so the last 3 take the tail.
    static let inputs: [Float] = (0..<1003).map { i in
        let t = Float(i - 501) / 501
        return t * t * t * 120 + t * 4
    }

    static func check(_ name: String, _ kernel: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int64) -> Void,
                      _ exponent: (Double) -> Double, _ exact: (Double) -> Double) {
        let g = inputs
        let u = g.indices.map { Float(($0 % 7) - 3) / 2 }
        var out = [Float](repeating: .nan, count: g.count)
        kernel(g, u, &out, Int64(g.count))
        for i in g.indices {
            let want = exact(Double(g[i])) * Double(u[i])
            // A few float roundings, and where exp's argument z is large, its rounding grown |z|-fold.
            let z = abs(exponent(Double(g[i])))
            let tolerance = 1e-6 * (2 + z) * abs(want) + 1e-35
            #expect(abs(Double(out[i]) - want) <= tolerance, "\(name)(\(g[i])) × \(u[i]) = \(out[i]), want \(want)")
        }
    }

    @Test func geluTanhForm() {
        // x / (1 + exp(−2y)) is 0.5·x·(1 + tanh(y)) without the cancellation of 1 + tanh(y) for
        // very negative y, which would leave the double-precision reference at 0.
        func y(_ x: Double) -> Double { 0.7978845608028654 * (x + 0.044715 * x * x * x) }
        Self.check("gelu", ck_geglu, { -2 * y($0) }) { x in x / (1 + exp(-2 * y(x))) }
    }

    @Test func silu() {
        Self.check("silu", ck_swiglu, { -$0 }) { x in x / (1 + exp(-x)) }
    }

    /// Attention's exp (its softmax's arguments are ≤ 0, down to where exp underflows) within
    /// 2 ulp of the exact value (the polynomial's 1.5 plus the float rounding), and exact where it must be.
    @Test func softmaxExp() {
        #expect(ck_expf(0) == 1)
        #expect(ck_expf(-.infinity) == 0)
        #expect(ck_expf(-200) == 0)
        for i in 0...20000 {
            let x = -Float(i) / 200  // 0 to −100, past where the fast range ends (−87.3)
            let want = exp(Double(x)), got = Double(ck_expf(x))
            let ulp = Double(Float(want).ulp)
            #expect(abs(got - want) <= 2 * ulp + 1e-45, "exp(\(x)) = \(got), want \(want)")
        }
    }

    /// The sampler's weights, exp((z − max) · scale) for all of a vocabulary or for chosen
    /// tokens (a gather), against double precision from the same float argument: within
    /// 2 float ulps as ck_expf, 0 below e^−87 and for −inf, and the sum is theirs in order.
    @Test(arguments: [(1.0 as Float, false), (1, true), (10, false), (0.5, true)])
    func samplingWeights(_ scale: Float, _ gathered: Bool) {
        var rng = SystemRandomNumberGenerator()
        let n = 1003  // not a multiple of eight: the scalar tail too
        var z = (0..<n).map { _ in Float.random(in: -30...30, using: &rng) }
        z[5] = -.infinity
        let index: [Int32] = gathered ? (0..<n).map { _ in Int32.random(in: 0..<Int32(n), using: &rng) } : Array(0..<Int32(n))
        let zmax = z.max()!
        var w = [Double](repeating: -1, count: n)
        let total = z.withUnsafeBufferPointer { zp in
            index.withUnsafeBufferPointer { ip in
                w.withUnsafeMutableBufferPointer { ck_exp_weights(zp.baseAddress, gathered ? ip.baseAddress : nil, Int64(n), zmax, scale, $0.baseAddress) }
            }
        }
        var sum = 0.0
        for j in 0..<n {
            let x = (z[Int(index[j])] - zmax) * scale
            let want = x < -87 ? 0 : exp(Double(x))
            #expect(abs(w[j] - want) <= 2 * Double(Float(want).ulp) + 1e-45, "weight \(j): exp(\(x)) = \(w[j]), want \(want)")
            sum += w[j]
        }
        #expect(total == sum)
    }
}
