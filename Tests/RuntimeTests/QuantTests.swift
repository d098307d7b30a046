import CKernels
import Foundation
import GGUF
import Runtime
import TestSupport
import Testing

@Suite struct QuantTests {
    static let types: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    func elements(_ type: GGMLType, blocks: Int) -> Int { blocks * type.blockSize }

    @Test(arguments: types)
    func fastPathEqualsReferenceBitForBit(_ type: GGMLType) {
        let blocks = type.blockSize == 1 ? 1000 : 40
        let bytes = randomBlocks(type, blocks: blocks, seed: UInt64(type.rawValue) + 1)
        let n = elements(type, blocks: blocks)
        let reference = bytes.withUnsafeBytes { Quant.dequantizeReference(type, $0, count: n) }
        var fast = [Float](repeating: .nan, count: n)
        bytes.withUnsafeBytes { src in fast.withUnsafeMutableBufferPointer { Quant.dequantize(type, src.baseAddress!, $0.baseAddress!, count: n) } }
        #expect(fast.map(\.bitPattern) == reference.map(\.bitPattern))
    }

    /// The numpy dequantizer of the `gguf` PyPI package agrees with the reference twin.
    @Test(arguments: types)
    func referenceMatchesGGUFNumpy(_ type: GGMLType) throws {
        let blocks = type.blockSize == 1 ? 512 : 24
        let bytes = randomBlocks(type, blocks: blocks, seed: UInt64(type.rawValue) + 100)
        let n = elements(type, blocks: blocks)
        let reference = bytes.withUnsafeBytes { Quant.dequantizeReference(type, $0, count: n) }
        guard let numpy = try gguf(type, bytes) else { return }
        #expect(numpy.count == n)
        for i in 0..<n where numpy[i] != reference[i] {
            #expect(abs(numpy[i] - reference[i]) <= 1e-6 * max(1, abs(reference[i])), "\(type.name) element \(i): numpy \(numpy[i]), ours \(reference[i])")
        }
    }

    /// Runs scripts/gguf-dequantize.py; nil (and a printed reason) when Python's gguf is absent outside CI.
    func gguf(_ type: GGMLType, _ bytes: [UInt8]) throws -> [Float]? {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import gguf, numpy"]
        check.standardError = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        if check.terminationStatus != 0 {
            let reason = "python3 with the gguf package is not installed (pip install gguf)"
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record(Comment(rawValue: reason)) } else { print("skipping: \(reason)") }
            return nil
        }
        let dir = FileManager.default.temporaryDirectory
        let input = dir.appendingPathComponent("q-\(getpid())-\(type.rawValue).bin")
        let output = dir.appendingPathComponent("q-\(getpid())-\(type.rawValue).f32")
        try Data(bytes).write(to: input)
        defer {
            try? FileManager.default.removeItem(at: input)
            try? FileManager.default.removeItem(at: output)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", TestPaths.root.appendingPathComponent("scripts/gguf-dequantize.py").path, "\(type.rawValue)", input.path, output.path]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let data = try Data(contentsOf: output)
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// Hand-built blocks pin the byte layouts.
    @Test func handBuiltBlocks() {
        let one: [UInt8] = [0x00, 0x3C]  // f16 1.0
        let half: [UInt8] = [0x00, 0x38]  // f16 0.5
        // Q4_0: element j is low nibble of qs[j] - 8, element j+16 the high nibble - 8.
        var q40 = one + [UInt8](repeating: 0, count: 16)
        q40[2] = 0x9F  // element 0: 15-8 = 7, element 16: 9-8 = 1
        let y40 = q40.withUnsafeBytes { Quant.dequantizeReference(.q4_0, $0, count: 32) }
        #expect(y40[0] == 7 && y40[16] == 1 && y40[1] == -8)
        // Q4_1: x = q * d + m.
        var q41 = one + half + [UInt8](repeating: 0, count: 16)
        q41[4] = 0x21
        let y41 = q41.withUnsafeBytes { Quant.dequantizeReference(.q4_1, $0, count: 32) }
        #expect(y41[0] == 1.5 && y41[16] == 2.5 && y41[1] == 0.5)
        // Q8_0: int8 times d.
        var q80 = half + [UInt8](repeating: 0, count: 32)
        q80[2] = 0xFE  // -2
        q80[33] = 100
        let y80 = q80.withUnsafeBytes { Quant.dequantizeReference(.q8_0, $0, count: 32) }
        #expect(y80[0] == -1 && y80[31] == 50)
        // Q5_0: the fifth bit of element j is bit j of qh.
        var q50 = one + [0x01, 0, 0, 0] + [UInt8](repeating: 0, count: 16)
        q50[6] = 0x0F
        let y50 = q50.withUnsafeBytes { Quant.dequantizeReference(.q5_0, $0, count: 32) }
        #expect(y50[0] == 15 && y50[1] == -16 && y50[16] == -16)
        // Q6_K: ql low nibble and two qh bits, minus 32, times d and the int8 scale.
        var q6 = [UInt8](repeating: 0, count: 210)
        q6[0] = 0x05; q6[128] = 0x02; q6[192] = 3; q6[208] = 0x00; q6[209] = 0x3C
        let y6 = q6.withUnsafeBytes { Quant.dequantizeReference(.q6_K, $0, count: 256) }
        #expect(y6[0] == Float(3 * ((5 | (2 << 4)) - 32)))
    }

    @Test func dotProductMatchesTheReference() {
        var rng = SplitMix64(seed: 7)
        for n in [1, 31, 32, 64, 100, 576, 4864] {
            let a = (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
            let b = (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
            let fast = ck_dot_f32(a, b, Int64(n))
            let ref = Quant.dotReference(a, b, count: n)
            #expect(abs(fast - ref) <= 1e-4 * Float(n).squareRoot(), "n=\(n)")
            #expect(ck_dot_f32(a, b, Int64(n)).bitPattern == fast.bitPattern)
        }
    }

    @Test func halfFloatConversions() {
        for bits in stride(from: 0, through: 0xFFFF, by: 7) {
            let h = UInt16(bits)
            let f = ck_fp16_to_fp32(h)
            let reference = Float(Float16(bitPattern: h))
            #expect(f.bitPattern == reference.bitPattern || (f.isNaN && reference.isNaN))
            if !f.isNaN { #expect(ck_fp32_to_fp16(f) == h) }
        }
        for f: Float in [0.1, -3.14159, 65519, 1e-7, 6e-5] {
            #expect(ck_fp32_to_fp16(f) == Float16(f).bitPattern)
        }
    }
}

@Suite struct VecDotTests {
    static let weightTypes: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    @Test(arguments: [GGMLType.q8_0, .q8_1, .q8_K])
    func activationQuantizationMatchesTheReference(_ atype: GGMLType) {
        var rng = SplitMix64(seed: UInt64(atype.rawValue))
        let n = 768
        var x = (0..<n).map { _ in Float(Int(rng.next() % 20001) - 10000) / 3000 }
        x[7] = 0; x[300] = -9.5  // a negative extreme in the second Q8_K block…
        x[400] = 9.5  // …and a positive one of the same magnitude after it: the first sets the sign
        for j in 512..<768 { x[j] = 0 }  // an all-zero block
        // A first block whose scale is exactly 1 and whose values are halves: every rounding a tie.
        x[0] = 127
        for j in 1..<32 { x[j] = Float(j % 2 == 0 ? j : -j) + 0.5 }
        let ref = Quant.quantizeActivationReference(atype, x)
        var fast = [UInt8](repeating: 0, count: ref.count)
        fast.withUnsafeMutableBytes { ck_quantize_row(atype.rawValue, x, $0.baseAddress!, Int64(n)) }
        #expect(fast == ref)
        #expect(ck_row_bytes(atype.rawValue, Int64(n)) == ref.count)
    }

    /// Every weight type's fast dot product against its slow twin (both rows dequantized,
    /// summed in Double).
    @Test(arguments: weightTypes)
    func fastDotMatchesTheReference(_ wtype: GGMLType) throws {
        let n = 1024
        let atype = try #require(Quant.activationType(for: wtype))
        var rng = SplitMix64(seed: UInt64(wtype.rawValue) * 31)
        let x = (0..<n).map { _ in Float(Int(rng.next() % 20001) - 10000) / 5000 }
        let w = randomBlocks(wtype, blocks: n / wtype.blockSize, seed: UInt64(wtype.rawValue) + 9)
        var a = [UInt8](repeating: 0, count: ck_row_bytes(atype.rawValue, Int64(n)))
        a.withUnsafeMutableBytes { ck_quantize_row(atype.rawValue, x, $0.baseAddress!, Int64(n)) }
        let fast = Double(w.withUnsafeBytes { wp in a.withUnsafeBytes { ap in ck_vec_dot(wtype.rawValue, wp.baseAddress!, ap.baseAddress!, Int64(n)) } })
        let reference = Quant.vecDotReference(wtype, w, activation: a, count: n)
        // The magnitude of the terms bounds float rounding in the fast path.
        let wv = w.withUnsafeBytes { Quant.dequantizeReference(wtype, $0, count: n) }
        let scale = zip(wv, x).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
        #expect(abs(fast - reference) <= 1e-5 * max(scale, 1), "\(wtype.name): fast \(fast), reference \(reference)")
        // The SIMD kernel (where the CPU has one) agrees with the scalar one.
        let simd = Double(w.withUnsafeBytes { wp in a.withUnsafeBytes { ap in ck_vec_dot_fast(wtype.rawValue, wp.baseAddress!, ap.baseAddress!, Int64(n)) } })
        #expect(abs(simd - reference) <= 1e-5 * max(scale, 1), "\(wtype.name): SIMD \(simd), reference \(reference)")
    }

    /// `tokens` random activation rows of `n` values, quantized as `wtype`'s dot products want
    /// them, and the bytes of one row.
    /// With `extremes`, rows 0 and 1 are constant (−1 and +1: every quant at the end of its
    /// range), so the kernels' 16-bit partial sums meet their bounds.
    func activations(for wtype: GGMLType, n: Int, tokens: Int, seed: UInt64, extremes: Bool = false) throws -> ([UInt8], Int) {
        let atype = try #require(Quant.activationType(for: wtype))
        var rng = SplitMix64(seed: seed)
        let aBytes = ck_row_bytes(atype.rawValue, Int64(n))
        var a = [UInt8](repeating: 0, count: aBytes * tokens)
        for t in 0..<tokens {
            let x = extremes && t < 2 ? [Float](repeating: t == 0 ? -1 : 1, count: n) : (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 700 }
            a.withUnsafeMutableBytes { ck_quantize_row(atype.rawValue, x, $0.baseAddress! + t * aBytes, Int64(n)) }
        }
        return (a, aBytes)
    }

    /// A weight row gives each activation row the same bits alone or grouped with others.
    @Test(arguments: weightTypes)
    func groupedDotsEqualSingleDots(_ wtype: GGMLType) throws {
        let n = 512, rows = 3, tokens = 7
        let w = randomBlocks(wtype, blocks: rows * n / wtype.blockSize, seed: 11)
        let rowBytes = wtype.byteCount(elements: n)!
        let (a, aBytes) = try activations(for: wtype, n: n, tokens: tokens, seed: 5)
        var grouped = [Float](repeating: 0, count: rows * tokens)
        w.withUnsafeBytes { wp in a.withUnsafeBytes { ap in
            _ = ck_matmul_q(wtype.rawValue, wp.baseAddress!, rowBytes, Int64(n), ap.baseAddress!, aBytes, Int64(tokens), &grouped, Int64(rows), 0, Int64(rows))
        } }
        for r in 0..<rows {
            for t in 0..<tokens {
                var single: Float = 0
                w.withUnsafeBytes { wp in a.withUnsafeBytes { ap in
                    _ = ck_matmul_q(wtype.rawValue, wp.baseAddress! + r * rowBytes, rowBytes, Int64(n), ap.baseAddress! + t * aBytes, aBytes, 1, &single, 1, 0, 1)
                } }
                #expect(single.bitPattern == grouped[t * rows + r].bitPattern, "\(wtype.name) row \(r) token \(t)")
            }
        }
    }

    /// Matrices of the types repacked into 8-row tiles: each tile kernel variant the CPU has
    /// (AVX2, VNNI), the scalar path on the file's rows (tail rows, CPUs without AVX2) and any
    /// split of rows or tokens give the same bits for every (row, token); the result agrees
    /// with the reference dot product.
    /// With `extremes`, every quant of a block is the lowest or the highest of its range (the
    /// block's quant bytes all 0x00 or all 0xFF; Q8_0's 0x80 or 0x7F) and two activation rows
    /// are constant.
    @Test(arguments: [GGMLType.q4_1, .q5_0, .q8_0, .q4_K, .q6_K], [false, true])
    func tilesEqualTheScalarPathBitForBit(_ wtype: GGMLType, extremes: Bool) throws {
        // Three whole tiles (with AVX-512 and over four tokens, one pair taken together and one alone) and three rows outside them.
        let n = 512, rows = 27, tokens = 9
        #expect(ck_packable(wtype.rawValue) != 0)
        var w = randomBlocks(wtype, blocks: rows * n / wtype.blockSize, seed: 21)
        if extremes {
            // Where each block's quants lie (Q5_0: its fifth bits too; Q6_K: both parts).
            let quants: Range<Int> = wtype == .q4_1 ? 4..<20 : wtype == .q5_0 ? 2..<22 : wtype == .q8_0 ? 2..<34 : wtype == .q4_K ? 16..<144 : 0..<192
            for b in 0..<(w.count / wtype.typeSize) {
                // Q8_0's quants are signed bytes: −128 and 127.
                let (lowest, highest): (UInt8, UInt8) = wtype == .q8_0 ? (0x80, 0x7F) : (0x00, 0xFF)
                for i in quants { w[b * wtype.typeSize + i] = b % 3 == 0 ? lowest : highest }
            }
        }
        let rowBytes = wtype.byteCount(elements: n)!
        let (a, aBytes) = try activations(for: wtype, n: n, tokens: tokens, seed: 9, extremes: extremes)
        let packedBytes = ck_packed_bytes(wtype.rawValue, Int64(rows), Int64(n))
        #expect(packedBytes == (rows / 8) * (n / wtype.blockSize) * (wtype == .q4_1 ? 160 : wtype == .q5_0 ? 176 : wtype == .q4_K ? 1184 : wtype == .q6_K ? 1680 : 272))
        var packed = [UInt8](repeating: 0, count: packedBytes)
        w.withUnsafeBytes { wp in packed.withUnsafeMutableBytes { _ = ck_pack(wtype.rawValue, wp.baseAddress!, rowBytes, Int64(rows), Int64(n), $0.baseAddress!) } }
        /// All rows [r0, r1) against tokens [t0, t1), through the tiles of a kernel variant or
        /// (packed: false) the scalar path.
        func run(tiles: Bool, variant: Int32 = ck_packed_variant(ck_cpu_features()), rows r0: Int, _ r1: Int, tokens t0: Int, _ t1: Int) -> [Float] {
            var y = [Float](repeating: .nan, count: tokens * rows)
            w.withUnsafeBytes { wp in a.withUnsafeBytes { ap in packed.withUnsafeBytes { pp in
                y.withUnsafeMutableBufferPointer { yp in
                    let status = ck_matmul_packed_variant(variant, wtype.rawValue, tiles ? pp.baseAddress : nil, wp.baseAddress!, rowBytes, Int64(n),
                                                          ap.baseAddress! + t0 * aBytes, aBytes, Int64(t1 - t0), yp.baseAddress! + t0 * rows, Int64(rows),
                                                          Int64(r0), Int64(r1))
                    #expect(status == 0)
                }
            } } }
            return y
        }
        let scalar = run(tiles: false, rows: 0, rows, tokens: 0, tokens)
        // Every vector variant this CPU has (AVX2, and VNNI in either encoding).
        let variants = [CK_PACKED_AVX2, CK_PACKED_AVXVNNI, CK_PACKED_AVX512VNNI].map { Int32($0) }.filter { ck_packed_variant_available($0) != 0 }
        for variant in variants {
            let whole = run(tiles: true, variant: variant, rows: 0, rows, tokens: 0, tokens)
            #expect(whole.map(\.bitPattern) == scalar.map(\.bitPattern), "\(wtype.name) variant \(variant)")
            // Batches of one (a single stream's decode step), two, three, four (up to
            // CK_PACKED_FEW_ROWS, tiles one at a time with AVX-512) and five tokens (in pairs): every
            // group size.
            for (t0, t1) in [(8, 9), (0, 4), (4, 9), (0, 2), (2, 5)] {
                let part = run(tiles: true, variant: variant, rows: 0, rows, tokens: t0, t1)
                #expect(part[(t0 * rows)..<(t1 * rows)].map(\.bitPattern) == scalar[(t0 * rows)..<(t1 * rows)].map(\.bitPattern),
                        "\(wtype.name) variant \(variant) tokens \(t0)..<\(t1)")
            }
            // A split that cuts tiles, and tokens one at a time.
            for (r0, r1) in [(0, 5), (5, 19), (19, 27)] {
                for t in 0..<tokens {
                    let part = run(tiles: true, variant: variant, rows: r0, r1, tokens: t, t + 1)
                    for r in r0..<r1 {
                        #expect(part[t * rows + r].bitPattern == scalar[t * rows + r].bitPattern, "\(wtype.name) variant \(variant) row \(r) token \(t)")
                    }
                }
            }
        }
        // ck_matmul_packed takes the best variant there is; one the CPU lacks is refused.
        #expect(run(tiles: true, rows: 0, rows, tokens: 0, tokens).map(\.bitPattern) == scalar.map(\.bitPattern))
        for variant in [CK_PACKED_AVX2, CK_PACKED_AVXVNNI, CK_PACKED_AVX512VNNI].map({ Int32($0) }) where ck_packed_variant_available(variant) == 0 {
            var y = [Float](repeating: 0, count: 8)
            let status = w.withUnsafeBytes { wp in a.withUnsafeBytes { ap in packed.withUnsafeBytes { pp in
                ck_matmul_packed_variant(variant, wtype.rawValue, pp.baseAddress, wp.baseAddress!, rowBytes, Int64(n), ap.baseAddress!, aBytes, 1, &y, 8, 0, 8)
            } } }
            #expect(status == -1)
        }
        for r in 0..<rows {
            for t in 0..<tokens {
                let reference = w.withUnsafeBytes { wp in a.withUnsafeBytes { ap in
                    ck_vec_dot(wtype.rawValue, wp.baseAddress! + r * rowBytes, ap.baseAddress! + t * aBytes, Int64(n))
                } }
                #expect(abs(scalar[t * rows + r] - reference) <= 1e-4 * max(1, abs(reference)), "\(wtype.name) row \(r) token \(t)")
            }
        }
    }
}
