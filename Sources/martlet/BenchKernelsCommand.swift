import ArgumentParser
import CKernels
import Dispatch
import Foundation
import GGUF
import Runtime

/// `martlet bench-kernels`: each kernel variant against its reference, and the machine's read
/// bandwidth (the roofline that decode cannot beat). Weights are random blocks; timings repeat
/// until each measurement has run for `--seconds`.
struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "Measure each kernel variant against its reference, and the memory read bandwidth.")

    @Option(help: "Threads for the bandwidth test (default: one per core); kernels run on one.") var threads: Int?
    @Option(help: "Rows and columns of the test matrices.") var size = 2048
    @Option(name: .customLong("bandwidth-mib"), help: "Buffer for the bandwidth test, MiB (well beyond the caches).") var bandwidthMiB = 1024
    @Option(help: "Seconds each measurement runs for at least.") var seconds = 0.3
    @Flag(name: .customLong("bandwidth-only"), help: "Only the read-bandwidth test.") var bandwidthOnly = false
    @Flag(help: "Print the results as JSON.") var json = false

    struct Row: Codable {
        var kernel: String
        var variant: String
        var tokens: Int
        var microseconds: Double
        var gbPerSecond: Double
        var gopPerSecond: Double?
        var speedup: Double?
    }

    func run() throws {
        var rows: [Row] = []
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        for t in Set([1, threadCount]).sorted() { rows.append(bandwidth(threads: t)) }
        if !bandwidthOnly {
            for type in [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q6_K] { rows += dotProducts(type) }
            for type in [GGMLType.q8_0, .q8_1, .q8_K] { rows.append(activationQuantization(type)) }
            rows += floatDot()
            rows += attention()
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        print("| kernel | variant | tokens | µs per call | GB/s | GOP/s | × reference |\n|---|---|---|---|---|---|---|")
        for r in rows {
            let gop = r.gopPerSecond.map { String(format: "%.1f", $0) } ?? ""
            let x = r.speedup.map { String(format: "%.2f", $0) } ?? ""
            print("| \(r.kernel) | \(r.variant) | \(r.tokens) | \(String(format: "%.1f", r.microseconds)) | \(String(format: "%.2f", r.gbPerSecond)) | \(gop) | \(x) |")
        }
    }

    /// The vector variants of the tile kernels (ck_matmul_packed_variant), each measured where
    /// this CPU has it.
    static let tileVariants = [CK_PACKED_AVX2, CK_PACKED_AVXVNNI, CK_PACKED_AVX512VNNI].map { (Int32($0), String(cString: ck_packed_variant_name(Int32($0)))) }

    /// Seconds per call of `body`, repeated until `seconds` have passed (after one warm-up call).
    private func time(_ body: () -> Void) -> Double {
        body()
        var calls = 0
        let t0 = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            body()
            calls += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        } while elapsed < seconds
        return elapsed / Double(calls)
    }

    /// Read bandwidth with `threads` threads, each reading its own slice of one large buffer.
    private func bandwidth(threads: Int) -> Row {
        let bytes = bandwidthMiB << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        defer { buffer.deallocate() }
        memset(buffer, 1, bytes)  // every page backed before timing
        let pool = ThreadPool(threads: threads)
        let slice = bytes / threads
        let sums = UnsafeMutablePointer<UInt64>.allocate(capacity: threads)
        defer { sums.deallocate() }
        let s = time {
            pool.run(threads) { part in sums[part] = ck_read_sum(buffer + part * slice, slice) }
        }
        precondition((0..<threads).reduce(0) { $0 &+ sums[$1] } == UInt64(bytes / 8) &* 0x0101_0101_0101_0101, "read sum")
        return Row(kernel: "memory read", variant: "\(threads) thread\(threads == 1 ? "" : "s")", tokens: 0,
                   microseconds: s * 1e6, gbPerSecond: Double(bytes) / s / 1e9, gopPerSecond: nil, speedup: nil)
    }

    /// A `size`×`size` weight matrix of `type` times 1, 4 and 16 activation rows: the scalar
    /// reference (ck_vec_dot, ggml's sums one row at a time) against the kernel the runtime uses
    /// (ck_matmul_q, SIMD, several activation rows per pass over a weight row).
    private func dotProducts(_ type: GGMLType) -> [Row] {
        let n = size, rowsCount = size
        let weights = randomBlocks(type, blocks: rowsCount * n / type.blockSize, seed: UInt64(type.rawValue))
        let atype = UInt32(ck_vec_dot_type(type.rawValue))
        let aRowBytes = ck_row_bytes(atype, Int64(n))
        let wRowBytes = weights.count / rowsCount
        var out: [Row] = []
        for tokens in [1, 4, 16] {
            var rng = SplitMix64(seed: 7)
            let x = (0..<(tokens * n)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
            var a = [UInt8](repeating: 0, count: tokens * aRowBytes)
            a.withUnsafeMutableBytes { ab in
                x.withUnsafeBufferPointer { xb in
                    for t in 0..<tokens { ck_quantize_row(atype, xb.baseAddress! + t * n, ab.baseAddress! + t * aRowBytes, Int64(n)) }
                }
            }
            var y = [Float](repeating: 0, count: tokens * rowsCount)
            let work = 2 * Double(rowsCount) * Double(n) * Double(tokens)
            let (reference, fast, tiled) = weights.withUnsafeBytes { wb in
                a.withUnsafeBytes { ab in
                    y.withUnsafeMutableBufferPointer { yb in
                        let w = wb.baseAddress!, av = ab.baseAddress!, yp = yb.baseAddress!
                        let reference = time {
                            for t in 0..<tokens {
                                for r in 0..<rowsCount {
                                    yp[t * rowsCount + r] = ck_vec_dot(type.rawValue, w + r * wRowBytes, av + t * aRowBytes, Int64(n))
                                }
                            }
                        }
                        let check = Array(UnsafeBufferPointer(start: yp, count: tokens * rowsCount))
                        let fast = time {
                            _ = ck_matmul_q(type.rawValue, w, wRowBytes, Int64(n), av, aRowBytes, Int64(tokens), yp, Int64(rowsCount), 0, Int64(rowsCount))
                        }
                        // The two must agree (the float accumulation order differs, the integer sums do not):
                        // relative to each output, or, for an output near zero from sums that cancel (with
                        // 8192 columns, 0.42 from terms the size of the largest outputs, 5·10⁴), to those.
                        let largest = check.reduce(Float(0)) { max($0, abs($1)) }
                        func agree(_ what: String) {
                            for i in 0..<(tokens * rowsCount) {
                                let difference = abs(yp[i] - check[i])
                                precondition(difference <= 1e-3 * max(1, abs(check[i])) || difference <= 1e-6 * largest,
                                             "\(type.name): \(what) and reference disagree (\(yp[i]) against \(check[i]))")
                            }
                        }
                        agree("kernel")
                        var tiled: [(String, Double)] = []
                        let packedBytes = ck_packed_bytes(type.rawValue, Int64(rowsCount), Int64(n))
                        if packedBytes > 0 {
                            let packed = UnsafeMutableRawPointer.allocate(byteCount: packedBytes, alignment: 64)
                            defer { packed.deallocate() }
                            _ = ck_pack(type.rawValue, w, wRowBytes, Int64(rowsCount), Int64(n), packed)
                            for (variant, name) in Self.tileVariants where ck_packed_variant_available(variant) != 0 {
                                let s = time {
                                    _ = ck_matmul_packed_variant(variant, type.rawValue, packed, w, wRowBytes, Int64(n), av, aRowBytes, Int64(tokens), yp,
                                                                 Int64(rowsCount), 0, Int64(rowsCount))
                                }
                                agree("8-row tile kernel, \(name)")
                                tiled.append(("kernel, 8-row tiles, \(name)\(variant == ck_packed_variant_in_use() ? " (used)" : "")", s))
                            }
                        }
                        return (reference, fast, tiled)
                    }
                }
            }
            let variants = [("reference (scalar)", reference), ("kernel", fast)] + tiled
            for (variant, s) in variants {
                out.append(Row(kernel: "dot \(type.name) × \(GGMLType(rawValue: atype)!.name)", variant: variant, tokens: tokens,
                               microseconds: s * 1e6, gbPerSecond: Double(weights.count) / s / 1e9, gopPerSecond: work / s / 1e9,
                               speedup: reference / s))
            }
        }
        return out
    }

    /// One activation row of `size` floats quantized to `atype` (once per row per matmul).
    private func activationQuantization(_ atype: GGMLType) -> Row {
        let n = size * 4
        var rng = SplitMix64(seed: 3)
        let x = (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
        var y = [UInt8](repeating: 0, count: ck_row_bytes(atype.rawValue, Int64(n)))
        let s = x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBytes { yb in time { ck_quantize_row(atype.rawValue, xb.baseAddress!, yb.baseAddress!, Int64(n)) } }
        }
        return Row(kernel: "quantize f32 → \(atype.name)", variant: "kernel", tokens: 1, microseconds: s * 1e6,
                   gbPerSecond: Double(n * 4) / s / 1e9, gopPerSecond: nil, speedup: nil)
    }

    /// One decode token's attention over `positions` cached half-precision rows (paged in
    /// shuffled blocks of 16, as the KV pool holds them) for the query heads that share one KV
    /// head: each vector variant of ck_attend_group (checked bit for bit against the scalar one)
    /// against the scalar one, at the head shapes of SmolLM2 (64, 3 heads a KV head), Qwen2.5-0.5B
    /// (64, 7) and Qwen2.5-1.5B (128, 6). GB/s counts the key and value bytes read; GOP/s a
    /// multiply and an add per head, position and key or value element.
    private func attention() -> [Row] {
        let variants = [(CK_ATTEND_SCALAR, "reference (scalar)"), (CK_ATTEND_AVX2, "kernel, avx2"), (CK_ATTEND_AVX512, "kernel, avx512")]
            .map { (Int32($0.0), $0.1) }.filter { ck_attend_variant_available($0.0) != 0 }
        var out: [Row] = []
        for (headDim, groups) in [(64, 3), (64, 7), (128, 6)] {
            for positions in [256, 2048] {
                let blockSize = 16, blocks = positions / blockSize, blockStride = blockSize * headDim
                var rng = SplitMix64(seed: UInt64(headDim * groups + positions))
                let table = (0..<blocks).map { Int32($0) }.shuffled(using: &rng)
                let k = (0..<(blocks * blockStride)).map { _ in ck_fp32_to_fp16(Float(Int(rng.next() % 2001) - 1000) / 500) }
                let v = (0..<(blocks * blockStride)).map { _ in ck_fp32_to_fp16(Float(Int(rng.next() % 2001) - 1000) / 500) }
                let q = (0..<(groups * headDim)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 500 }
                var scores = [Float](repeating: 0, count: groups * positions)
                var results: [(String, Double, [Float])] = []
                for (variant, name) in variants {
                    var o = [Float](repeating: 0, count: groups * headDim)
                    let s = time {
                        _ = ck_attend_group_variant(variant, q, Int64(groups), Int64(headDim), Int64(headDim), 1 / Float(headDim).squareRoot(), k, v,
                                                    table, Int64(blockSize), Int64(blockStride), Int64(headDim), 0, Int64(positions - 1), &scores, &o)
                    }
                    precondition(results.isEmpty || o.map(\.bitPattern) == results[0].2.map(\.bitPattern), "attention: \(name) and reference disagree")
                    results.append((name, s, o))
                }
                let bytes = Double(positions * headDim * 2 * 2), work = 2 * Double(groups * positions * headDim * 2)
                for (name, s, _) in results {
                    out.append(Row(kernel: "attention f16 KV, head \(headDim), \(groups) heads a KV head", variant: name, tokens: positions,
                                   microseconds: s * 1e6, gbPerSecond: bytes / s / 1e9, gopPerSecond: work / s / 1e9, speedup: results[0].1 / s))
                }
            }
        }
        return out
    }

    /// The fixed-order float dot product (norms, attention scores) against a plain loop.
    private func floatDot() -> [Row] {
        let n = size * size / 16
        var rng = SplitMix64(seed: 5)
        let a = (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
        let b = (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
        var sink: Float = 0
        let (reference, fast) = a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                (time { sink += Quant.dotReference(ap.baseAddress!, bp.baseAddress!, count: n) },
                 time { sink += ck_dot_f32(ap.baseAddress!, bp.baseAddress!, Int64(n)) })
            }
        }
        precondition(sink.isFinite)
        return [("reference (Swift loop)", reference), ("kernel", fast)].map { variant, s in
            Row(kernel: "dot f32 × f32", variant: variant, tokens: 1, microseconds: s * 1e6, gbPerSecond: Double(n * 8) / s / 1e9,
                gopPerSecond: 2 * Double(n) / s / 1e9, speedup: reference / s)
        }
    }
}
