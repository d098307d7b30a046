import Engine
import Foundation

/// Counters and histograms for `GET /metrics` (Prometheus text format). Guarded by lock.
public final class Metrics: @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [String: Int] = [:]          // "route|status" → count
    private var tokens: [String: Int] = [:]            // kind → count
    private var ttft = Histogram(buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])
    private var interToken = Histogram(buckets: [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56])
    private var duration = Histogram(buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300])

    struct Histogram {
        let buckets: [Double]
        var counts: [Int]
        var sum = 0.0
        var count = 0
        init(buckets: [Double]) {
            self.buckets = buckets
            counts = Array(repeating: 0, count: buckets.count)
        }
        mutating func observe(_ v: Double) {
            for (i, b) in buckets.enumerated() where v <= b { counts[i] += 1 }
            sum += v
            count += 1
        }
    }

    public init() {}

    func request(route: String, status: Int, seconds: Double) {
        lock.withLock {
            requests["\(route)|\(status)", default: 0] += 1
            duration.observe(seconds)
        }
    }

    func usage(_ u: Usage) {
        lock.withLock {
            tokens["prompt", default: 0] += u.promptTokens
            tokens["cached", default: 0] += u.cachedPromptTokens
            tokens["generated", default: 0] += u.completionTokens
        }
    }

    func firstToken(after seconds: Double) { lock.withLock { ttft.observe(seconds) } }
    func interToken(_ seconds: Double) { lock.withLock { interToken.observe(seconds) } }

    /// The exposition text, with the engine's gauges for `model`.
    func render(model: String?, engine: EngineStatistics?) -> String {
        lock.lock()
        defer { lock.unlock() }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        let m = model.map { "model=\"\(Self.escape($0))\"" } ?? ""
        family("martlet_requests_total", "counter", "HTTP requests by route and status.")
        for (key, n) in requests.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "|", maxSplits: 1)
            out += "martlet_requests_total{route=\"\(Self.escape(String(parts[0])))\",status=\"\(parts[1])\"} \(n)\n"
        }
        family("martlet_tokens_total", "counter", "Prompt tokens, prompt tokens served from the prefix cache, and generated tokens.")
        for kind in ["prompt", "cached", "generated"] {
            out += "martlet_tokens_total{\(m.isEmpty ? "" : m + ",")kind=\"\(kind)\"} \(tokens[kind] ?? 0)\n"
        }
        for (name, help, h) in [("martlet_time_to_first_token_seconds", "Time from request to first token.", ttft),
                                ("martlet_inter_token_seconds", "Time between two tokens of a stream.", interToken),
                                ("martlet_request_duration_seconds", "Time from request to the end of its response.", duration)] {
            family(name, "histogram", help)
            for (b, c) in zip(h.buckets, h.counts) { out += "\(name)_bucket{le=\"\(b)\"} \(c)\n" }
            out += "\(name)_bucket{le=\"+Inf\"} \(h.count)\n\(name)_sum \(h.sum)\n\(name)_count \(h.count)\n"
        }
        if let e = engine {
            let label = m.isEmpty ? "" : "{\(m)}"
            let gauges: [(String, String, Int)] = [
                ("martlet_requests_waiting", "Sequences waiting for a place in the batch.", e.waiting),
                ("martlet_sequences_running", "Sequences in the running batch.", e.running),
                ("martlet_kv_blocks_used", "KV-cache blocks held by sequences.", e.blocksOwned),
                ("martlet_kv_blocks_cached", "Free KV-cache blocks still holding a cached prefix.", e.blocksCachedFree),
                ("martlet_kv_blocks_free", "Empty KV-cache blocks.", e.blocksEmptyFree),
            ]
            for (name, help, v) in gauges {
                family(name, "gauge", help)
                out += "\(name)\(label) \(v)\n"
            }
            family("martlet_preemptions_total", "counter", "Sequences preempted because the KV cache was full.")
            out += "martlet_preemptions_total\(label) \(e.preemptions)\n"
            family("martlet_prefix_cache_hits_total", "counter", "KV blocks found in the prefix cache.")
            out += "martlet_prefix_cache_hits_total\(label) \(e.prefixCacheHits)\n"
            family("martlet_prefix_cache_hit_ratio", "gauge", "Prompt tokens served from the prefix cache over prompt tokens.")
            let prompt = tokens["prompt"] ?? 0
            out += "martlet_prefix_cache_hit_ratio\(label) \(prompt == 0 ? 0 : Double(tokens["cached"] ?? 0) / Double(prompt))\n"
        }
        return out
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
