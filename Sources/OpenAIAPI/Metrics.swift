import Engine
import Foundation
import HTTPServer

/// Counters and histograms for `GET /metrics` (Prometheus text format). Guarded by lock.
public final class Metrics: @unchecked Sendable {
    private let lock = SpinLock()
    private var requests: [RouteStatus: Int] = [:]
    private struct RouteStatus: Hashable {
        let route: String
        let status: Int
    }
    private var tokens: [String: Int] = [:]            // "model|kind" → count
    private static let ttftBuckets = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    private static let interTokenBuckets = [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56]
    /// Per model.
    private var ttft: [String: Histogram] = [:]
    private var interToken: [String: Histogram] = [:]
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
            requests[RouteStatus(route: route, status: status), default: 0] += 1
            duration.observe(seconds)
        }
    }

    func usage(_ u: Usage, model: String) {
        lock.withLock {
            tokens[model + "|prompt", default: 0] += u.promptTokens
            tokens[model + "|cached", default: 0] += u.cachedPromptTokens
            tokens[model + "|generated", default: 0] += u.completionTokens
        }
    }

    func firstToken(after seconds: Double, model: String) {
        lock.withLock { ttft[model, default: Histogram(buckets: Self.ttftBuckets)].observe(seconds) }
    }

    func interToken(_ seconds: Double, model: String) {
        lock.withLock { interToken[model, default: Histogram(buckets: Self.interTokenBuckets)].observe(seconds) }
    }

    /// The exposition text, with each model's engine gauges.
    func render(models: [(String, EngineStatistics)]) -> String {
        lock.withLock { renderLocked(models: models) }
    }

    private func renderLocked(models: [(String, EngineStatistics)]) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        family("martlet_requests_total", "counter", "HTTP requests by route and status.")
        for (key, n) in requests.sorted(by: { ($0.key.route, $0.key.status) < ($1.key.route, $1.key.status) }) {
            out += "martlet_requests_total{route=\"\(Self.escape(key.route))\",status=\"\(key.status)\"} \(n)\n"
        }
        family("martlet_tokens_total", "counter", "Prompt tokens, prompt tokens served from the prefix cache, and generated tokens.")
        for (model, _) in models {
            for kind in ["prompt", "cached", "generated"] {
                out += "martlet_tokens_total{model=\"\(Self.escape(model))\",kind=\"\(kind)\"} \(tokens[model + "|" + kind] ?? 0)\n"
            }
        }
        func histogram(_ name: String, _ h: Histogram, _ label: String) {
            let sep = label.isEmpty ? "" : label + ","
            for (b, c) in zip(h.buckets, h.counts) { out += "\(name)_bucket{\(sep)le=\"\(b)\"} \(c)\n" }
            let tail = label.isEmpty ? "" : "{\(label)}"
            out += "\(name)_bucket{\(sep)le=\"+Inf\"} \(h.count)\n\(name)_sum\(tail) \(h.sum)\n\(name)_count\(tail) \(h.count)\n"
        }
        for (name, help, byModel, buckets) in [("martlet_time_to_first_token_seconds", "Time from request to first token.", ttft, Self.ttftBuckets),
                                               ("martlet_inter_token_seconds", "Time between two tokens of a stream.", interToken, Self.interTokenBuckets)] {
            family(name, "histogram", help)
            for (model, _) in models { histogram(name, byModel[model] ?? Histogram(buckets: buckets), "model=\"\(Self.escape(model))\"") }
        }
        family("martlet_request_duration_seconds", "histogram", "Time from request to the end of its response.")
        histogram("martlet_request_duration_seconds", duration, "")
        // One family at a time, a sample per model (the format wants each family once).
        let gauges: [(String, String, String, (EngineStatistics) -> Int)] = [
            ("martlet_requests_waiting", "gauge", "Sequences waiting for a place in the batch.", { $0.waiting }),
            ("martlet_sequences_running", "gauge", "Sequences in the running batch.", { $0.running }),
            ("martlet_kv_blocks_used", "gauge", "KV-cache blocks held by sequences.", { $0.blocksOwned }),
            ("martlet_kv_blocks_cached", "gauge", "Free KV-cache blocks still holding a cached prefix.", { $0.blocksCachedFree }),
            ("martlet_kv_blocks_free", "gauge", "Empty KV-cache blocks.", { $0.blocksEmptyFree }),
            ("martlet_preemptions_total", "counter", "Sequences preempted because the KV cache was full.", { $0.preemptions }),
            ("martlet_prefix_cache_hits_total", "counter", "KV blocks found in the prefix cache.", { $0.prefixCacheHits }),
            ("martlet_prefix_cache_partial_hits_total", "counter", "Cached KV blocks copied for the leading positions a prompt shares with them.", { $0.prefixCachePartialHits }),
            ("martlet_pool_jobs_alone_total", "counter", "Thread-pool jobs run without the workers because the machine was crowded.", { $0.jobsRunAlone }),
            ("martlet_engine_steps_total", "counter", "Forward passes (steps) of the batch.", { $0.steps }),
            ("martlet_engine_step_tokens_total", "counter", "Tokens fed to forward passes (decode tokens and prefill chunks).", { $0.stepTokens }),
        ]
        for (name, type, help, value) in gauges {
            family(name, type, help)
            for (model, e) in models { out += "\(name){model=\"\(Self.escape(model))\"} \(value(e))\n" }
        }
        family("martlet_engine_step_seconds_total", "counter", "Seconds spent in forward passes.")
        for (model, e) in models { out += "martlet_engine_step_seconds_total{model=\"\(Self.escape(model))\"} \(e.stepSeconds)\n" }
        family("martlet_prefix_cache_hit_ratio", "gauge", "Prompt tokens served from the prefix cache over prompt tokens.")
        for (model, _) in models {
            let prompt = tokens[model + "|prompt"] ?? 0
            out += "martlet_prefix_cache_hit_ratio{model=\"\(Self.escape(model))\"} \(prompt == 0 ? 0 : Double(tokens[model + "|cached"] ?? 0) / Double(prompt))\n"
        }
        return out
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
