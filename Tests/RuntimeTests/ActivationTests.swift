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
}
