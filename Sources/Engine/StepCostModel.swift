/// Predicts how long a forward pass of n tokens takes, as a fixed cost plus a cost per token,
/// fitted to the steps the engine has timed (exponentially weighted least squares, so it
/// follows the machine's load). The scheduler uses it to keep prefill chunks small enough
/// that running streams never wait much longer than a decode-only step.
///
/// Confined to the engine thread.
struct StepCostModel {
    // Weighted sums of n, t, n², n·t and the weights.
    private var sw = 0.0, sn = 0.0, st = 0.0, snn = 0.0, snt = 0.0
    private let decay = 0.98
    private(set) var observations = 0

    mutating func observe(tokens n: Int, seconds t: Double) {
        let x = Double(n)
        sw = sw * decay + 1
        sn = sn * decay + x
        st = st * decay + t
        snn = snn * decay + x * x
        snt = snt * decay + x * t
        observations += 1
    }

    /// (fixed, perToken) in seconds, once the observed sizes vary enough to separate them.
    var fit: (fixed: Double, perToken: Double)? {
        let variance = snn * sw - sn * sn
        guard observations >= 8, variance > 1e-9 * sw * sw else { return nil }
        let perToken = (snt * sw - sn * st) / variance
        let fixed = (st - perToken * sn) / sw
        guard perToken > 0, fixed >= 0 else { return nil }
        return (fixed, perToken)
    }

    /// The most prefill tokens to add to a step of `decoding` decode tokens so that it takes at
    /// most `factor` times as long as the decode tokens alone; nil when not yet known.
    func prefillAllowance(decoding: Int, factor: Double) -> Int? {
        guard decoding > 0, let (a, b) = fit else { return nil }
        let decodeOnly = a + b * Double(decoding)
        return max(1, Int(((factor - 1) * decodeOnly) / b))
    }
}
