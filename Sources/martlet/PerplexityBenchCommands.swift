import ArgumentParser
import CKernels
import Foundation
import Runtime

/// `martlet perplexity --model M --file F [--ctx 512]`: llama.cpp's method. The text is cut
/// into consecutive chunks of `ctx` tokens (BOS first where the model adds one); each chunk is
/// evaluated from an empty cache and only its second half is scored.
struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure perplexity on a text file.")

    @Option(help: "A model name known to scripts/fetch-model, or a path to a .gguf file.") var model: String = KnownModels.defaultName
    @Option(help: "The text file.") var file: String
    @Option(help: "Tokens per chunk.") var ctx = 512
    @Option(help: "Evaluate at most this many chunks (default: all).") var chunks: Int?
    @Option(help: "Worker threads (default: one per core).") var threads: Int?

    func validate() throws {
        guard ctx >= 16 && ctx <= 1 << 16 else { throw ValidationError("--ctx must be between 16 and 65536, got \(ctx)") }
    }

    func run() throws {
        let loaded = try LoadedModel(model, threads: threads, maxBatchTokens: ctx, maxContext: ctx)
        guard let data = FileManager.default.contents(atPath: file) else { printError("cannot read \(file)"); throw ExitCode(1) }
        let vocab = loaded.tokenizer.vocabulary
        let tokens = loaded.tokenizer.encode(String(decoding: data, as: UTF8.self), addSpecial: true, parseSpecial: false)
        var nChunks = tokens.count / ctx
        if let chunks { nChunks = min(nChunks, chunks) }
        guard nChunks > 0 else { printError("\(file) has \(tokens.count) tokens; need at least \(ctx)"); throw ExitCode(1) }
        let (kv, table) = try loaded.singleSequenceCache(positions: ctx)
        let first = ctx / 2
        var nll = 0.0
        var count = 0
        let start = Date()
        for ic in 0..<nChunks {
            var chunk = Array(tokens[(ic * ctx)..<((ic + 1) * ctx)])
            if vocab.addBOS, let bos = vocab.bos { chunk[0] = bos }
            let batch = chunk.enumerated().map { BatchToken(token: $0.element, position: $0.offset, sequence: 0, wantLogits: $0.offset >= first && $0.offset < ctx - 1) }
            loaded.model.forward(batch, blockTables: [table], kv: kv) { i, logits in
                let target = Int(tokens[ic * ctx + i + 1])
                let m = Double(logits.max()!)
                var sum = 0.0
                for l in logits { sum += Foundation.exp(Double(l) - m) }
                nll += (m + Foundation.log(sum)) - Double(logits[target])
                count += 1
            }
            FileHandle.standardError.write(Data("[\(ic + 1)]\(String(format: "%.4f", Foundation.exp(nll / Double(count)))) ".utf8))
        }
        let ppl = Foundation.exp(nll / Double(count))
        FileHandle.standardError.write(Data("\n".utf8))
        print("perplexity: \(String(format: "%.4f", ppl)) over \(nChunks) chunks of \(ctx) tokens (\(count) scored) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }
}

/// `martlet bench --model M [-p 512] [-n 128]`: prefill and decode tokens per second, as
/// llama-bench measures them (pp: one batch of p tokens into an empty cache; tg: n tokens
/// decoded one at a time from an empty cache).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure prefill and decode speed.")

    @Option(help: "A model name known to scripts/fetch-model, or a path to a .gguf file.") var model: String = KnownModels.defaultName
    @Option(name: .short, help: "Prompt tokens for the prefill test (0 to skip).") var p = 512
    @Option(name: .short, help: "Tokens for the decode test (0 to skip).") var n = 128
    @Option(name: .short, help: "Repetitions.") var r = 3
    @Option(help: "Worker threads (default: one per core).") var threads: Int?
    @Flag(help: "Print the results as JSON.") var json = false

    func run() throws {
        let loaded = try LoadedModel(model, threads: threads, maxBatchTokens: max(p, 1), maxContext: max(p, n) + 1)
        let m = loaded.model
        let (kv, table) = try loaded.singleSequenceCache(positions: max(p, n) + 1)
        var rng = SplitMix64(seed: 1)
        let vocab = UInt64(m.config.nVocab)
        func randomTokens(_ count: Int) -> [Int32] { (0..<count).map { _ in Int32(rng.next() % vocab) } }
        var results: [(String, Double, Double)] = []
        if p > 0 {
            // A warm-up run, then the timed ones.
            var rates: [Double] = []
            for rep in 0...r {
                let tokens = randomTokens(p)
                let t0 = DispatchTime.now().uptimeNanoseconds
                m.forward(tokens.enumerated().map { BatchToken(token: $0.element, position: $0.offset, sequence: 0, wantLogits: $0.offset == p - 1) },
                          blockTables: [table], kv: kv) { _, _ in }
                let s = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                if rep > 0 { rates.append(Double(p) / s) }
            }
            results.append(("pp\(p)", mean(rates), stddev(rates)))
        }
        if n > 0 {
            var rates: [Double] = []
            for rep in 0...r {
                var token = randomTokens(1)[0]
                let t0 = DispatchTime.now().uptimeNanoseconds
                for pos in 0..<n {
                    m.forward([BatchToken(token: token, position: pos, sequence: 0, wantLogits: true)], blockTables: [table], kv: kv) { _, logits in
                        token = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
                    }
                }
                let s = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                if rep > 0 { rates.append(Double(n) / s) }
            }
            results.append(("tg\(n)", mean(rates), stddev(rates)))
        }
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        // Anonymous resident memory is everything but the mapped weights; less the KV pool and
        // the weights repacked into tiles, it is what the runtime itself holds (activations,
        // scratch, vocabulary).
        let anonMB = Double(residentAnonymousKiB()) / 1024 - Double(kv.bytes + m.packedBytes) / 1_048_576
        let kernels = String(cString: ck_packed_variant_name(ck_packed_variant_in_use()))
        if json {
            let items = results.map { "{\"test\": \"\($0.0)\", \"t/s\": \(String(format: "%.2f", $0.1)), \"stddev\": \(String(format: "%.2f", $0.2)), \"threads\": \(threadCount), \"rss_beyond_weights_and_kv_mib\": \(String(format: "%.1f", anonMB)), \"weight_bytes_per_token\": \(m.weights.bytesReadPerToken), \"jobs_run_alone\": \(m.jobsRunAlone), \"tile_kernels\": \"\(kernels)\"}" }
            print("[" + items.joined(separator: ", ") + "]")
        } else {
            print("| model | threads | test | t/s |\n|---|---|---|---|")
            for (test, rate, sd) in results {
                print("| \(m.config.name ?? model) | \(threadCount) | \(test) | \(String(format: "%.2f ± %.2f", rate, sd)) |")
            }
            print("resident memory beyond the weights (mapped and repacked) and the KV pool: \(String(format: "%.1f", anonMB)) MiB")
            print("jobs run by the calling thread alone, the machine being crowded: \(m.jobsRunAlone)")
            print("tile kernels: \(kernels)")
        }
    }

    private func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(max(x.count, 1)) }
    private func stddev(_ x: [Double]) -> Double {
        let m = mean(x)
        return (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(max(x.count - 1, 1))).squareRoot()
    }
}

/// RssAnon of this process in KiB, from /proc/self/status (0 where there is no /proc).
func residentAnonymousKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("RssAnon:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}
