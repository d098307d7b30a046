import GGUF
import TestSupport
import Testing

/// The catalogue of broken files: each violates one rule and must give that rule's error.
@Suite struct GGUFBrokenFileTests {
    @Test func truncatedAtEveryByteGivesATruncationError() {
        let (bytes, layout) = sampleWriter().build()
        for n in 0..<bytes.count {
            guard let p = problem(Array(bytes[..<n])) else { continue }
            switch p {
            case .truncated, .arrayPastEnd:
                #expect(n < layout.dataStart, "prefix \(n) is in the header")
            case .dataPastEnd:
                #expect(n >= layout.tensorInfoStarts.last!, "prefix \(n)")
            default:
                Issue.record("prefix of \(n) bytes gave \(p)")
            }
        }
    }

    @Test func truncatedAtSectionBoundaries() {
        let (bytes, layout) = sampleWriter().build()
        #expect(problem(Array(bytes[..<4])) == .truncated(what: "version", offset: 4, needed: 4, fileSize: 4))
        #expect(problem(Array(bytes[..<8])) == .truncated(what: "tensor count", offset: 8, needed: 8, fileSize: 8))
        #expect(problem(Array(bytes[..<16])) == .truncated(what: "metadata key count", offset: 16, needed: 8, fileSize: 16))
        let firstKey = layout.keyStarts[0]
        #expect(problem(Array(bytes[..<firstKey])) == .truncated(what: "length of key of metadata pair 0", offset: firstKey, needed: 8, fileSize: firstKey))
        let firstInfo = layout.tensorInfoStarts[0]
        #expect(problem(Array(bytes[..<firstInfo])) == .truncated(what: "length of name of tensor 0", offset: firstInfo, needed: 8, fileSize: firstInfo))
        if case .dataPastEnd(let t, _, _) = problem(Array(bytes[..<layout.dataStart])) {
            #expect(t == "token_embd.weight")
        } else {
            Issue.record("truncation at the data section must name the first tensor")
        }
        if case .dataPastEnd(let t, _, _) = problem(Array(bytes[..<(layout.end - 1)])) {
            #expect(t == "blk.0.attn_q.weight")
        } else {
            Issue.record("truncation in the data must name the last tensor")
        }
    }

    @Test func randomCorruptionNeverCrashes() {
        var rng = SplitMix64(seed: 42)
        let bytes = sampleWriter().write()
        for _ in 0..<3000 {
            var b = bytes
            for _ in 0..<Int(rng.next() % 4 + 1) {
                b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            _ = try? GGUFFile(bytes: b, name: "fuzz.gguf")
        }
    }

    @Test func badMagicAndVersions() {
        var w = sampleWriter()
        w.magic = Array("GGML".utf8)
        #expect(problem(w.write()) == .badMagic(found: Array("GGML".utf8)))
        for v: UInt32 in [0, 1, 4, 77] {
            w = sampleWriter()
            w.version = v
            #expect(problem(w.write()) == .unsupportedVersion(v))
        }
        w = sampleWriter()
        w.version = UInt32(3).byteSwapped
        #expect(problem(w.write()) == .bigEndian(version: UInt32(3).byteSwapped))
    }

    @Test func countsBeyondTheLimits() {
        var w = sampleWriter()
        w.declaredKeyCount = 1 << 40
        #expect(problem(w.write()) == .tooManyKeys(count: 1 << 40, limit: GGUFLimits.default.maxKeys))
        w = sampleWriter()
        w.declaredTensorCount = UInt64.max
        #expect(problem(w.write()) == .tooManyTensors(count: UInt64.max, limit: GGUFLimits.default.maxTensors))
        // Counts within the limits but larger than the file: truncation, not allocation.
        w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.declaredKeyCount = 60_000
        var bytes = w.write()
        while bytes.last == 0 { bytes.removeLast() }  // the padding after the last value
        #expect(problem(bytes) == .truncated(what: "length of key of metadata pair 1", offset: bytes.count, needed: 8, fileSize: bytes.count))
    }

    @Test func stringAndArrayLimits() {
        var w = GGUFWriter()
        w.entries.append(.init(key: "s", rawTypeAndValue: le(UInt32(8)) + le(UInt64.max)))
        #expect(problem(w.write()) == .stringTooLong(what: "value of key s", length: UInt64.max, limit: GGUFLimits.default.maxStringLength))

        w = GGUFWriter()
        w.entries.append(.init(key: "a", rawTypeAndValue: le(UInt32(9)) + le(UInt32(0)) + le(UInt64(1) << 62)))
        #expect(problem(w.write()) == .arrayTooLong(key: "a", length: 1 << 62, limit: GGUFLimits.default.maxArrayLength))

        // An array that claims a million strings in a tiny file is refused before allocating.
        w = GGUFWriter()
        w.entries.append(.init(key: "tokens", rawTypeAndValue: le(UInt32(9)) + le(UInt32(8)) + le(UInt64(1_000_000))))
        let bytes = w.write()
        #expect(problem(bytes) == .arrayPastEnd(key: "tokens", length: 1_000_000, bytesLeft: bytes.count - (24 + 8 + 6 + 4 + 4 + 8)))

        var limits = GGUFLimits()
        limits.maxStringLength = 4
        w = GGUFWriter()
        w.set("n", .string("too long"))
        #expect(problem(w.write(), limits: limits) == .stringTooLong(what: "value of key n", length: 8, limit: 4))

        // Keys are strings too.
        w = GGUFWriter()
        w.set("a.long.key", .uint8(1))
        #expect(problem(w.write(), limits: limits) == .stringTooLong(what: "key of metadata pair 0", length: 10, limit: 4))
    }

    @Test func nestingTooDeep() {
        var value = GGUFValue.array(.uint8, [.uint8(1)])
        for _ in 0..<9 { value = .array(.array, [value]) }
        var w = GGUFWriter()
        w.set("deep", value)
        #expect(problem(w.write()) == .arrayTooDeep(key: "deep", limit: GGUFLimits.default.maxArrayDepth))
    }

    @Test func unknownValueTypes() {
        var w = GGUFWriter()
        w.entries.append(.init(key: "x", rawTypeAndValue: le(UInt32(13))))
        #expect(problem(w.write()) == .unknownValueType(key: "x", raw: 13))
        w = GGUFWriter()
        w.entries.append(.init(key: "arr", rawTypeAndValue: le(UInt32(9)) + le(UInt32(99)) + le(UInt64(0))))
        #expect(problem(w.write()) == .unknownValueType(key: "arr", raw: 99))
        w = GGUFWriter()
        w.entries.append(.init(key: "b", rawTypeAndValue: le(UInt32(7)) + [2]))
        #expect(problem(w.write()) == .wrongValueType(key: "b", expected: "bool (0 or 1)", found: "byte 2"))
    }

    @Test func duplicateKeys() {
        var w = sampleWriter()
        w.set("u8", .uint8(1))
        #expect(problem(w.write()) == .duplicateKey("u8"))
    }

    @Test(arguments: [0, 3, 48, 1 << 20])
    func badAlignment(_ value: UInt32) {
        var w = sampleWriter()
        w.set("general.alignment", .uint32(value))
        #expect(problem(w.write()) == .badAlignment(UInt64(value)))
    }

    @Test func alignmentOfTheWrongType() {
        var w = sampleWriter()
        w.set("general.alignment", .uint64(32))
        #expect(problem(w.write()) == .wrongValueType(key: "general.alignment", expected: "uint32", found: "uint64"))
    }

    @Test func duplicateTensorNames() {
        var w = sampleWriter()
        w.addTensor("norm.weight", shape: [32], type: .f32, data: [UInt8](repeating: 0, count: 128))
        #expect(problem(w.write()) == .duplicateTensor("norm.weight"))
    }

    @Test func tensorNameTooLong() {
        var w = GGUFWriter()
        let name = String(repeating: "x", count: 64)
        w.addTensor(name, shape: [1], type: .f32, data: [0, 0, 0, 0])
        #expect(problem(w.write()) == .tensorNameTooLong(name: name, length: 64, limit: 63))
    }

    @Test(arguments: [0, 5, 1000])
    func badDimensionCounts(_ n: Int) {
        var w = GGUFWriter()
        w.tensors.append(.init(name: "t", shape: [UInt64](repeating: 1, count: n), type: .f32, data: [0, 0, 0, 0]))
        #expect(problem(w.write()) == .badDimensionCount(tensor: "t", count: UInt32(n), limit: 4))
    }

    @Test func dimensionsOutOfRangeOrOverflowing() {
        var w = GGUFWriter()
        w.tensors.append(.init(name: "t", shape: [UInt64.max], type: .f32, data: []))
        #expect(problem(w.write()) == .badDimension(tensor: "t", index: 0, value: UInt64.max))
        w = GGUFWriter()
        w.tensors.append(.init(name: "t", shape: [1 << 32, 1 << 32], type: .f32, data: []))
        #expect(problem(w.write()) == .elementCountOverflow(tensor: "t", shape: [1 << 32, 1 << 32]))
        // Elements fit in Int but bytes do not.
        w = GGUFWriter()
        w.tensors.append(.init(name: "t", shape: [1 << 31, 1 << 31], type: .f32, data: []))
        #expect(problem(w.write()) == .elementCountOverflow(tensor: "t", shape: [1 << 31, 1 << 31]))
    }

    @Test(arguments: [UInt32(4), 5, 31, 32, 33, 36, 40, 1000])
    func unknownTensorTypes(_ raw: UInt32) {
        var w = GGUFWriter()
        w.tensors.append(.init(name: "t", shape: [256], rawType: raw, data: []))
        #expect(problem(w.write()) == .unknownTensorType(tensor: "t", raw: raw))
    }

    @Test func rowsNotAMultipleOfTheBlock() {
        var w = GGUFWriter()
        w.tensors.append(.init(name: "t", shape: [100, 2], type: .q4_K, data: []))
        #expect(problem(w.write()) == .rowNotBlockMultiple(tensor: "t", rowLength: 100, type: "Q4_K", blockSize: 256))
        w = GGUFWriter()
        w.tensors.append(.init(name: "t", shape: [33], type: .q4_0, data: []))
        #expect(problem(w.write()) == .rowNotBlockMultiple(tensor: "t", rowLength: 33, type: "Q4_0", blockSize: 32))
    }

    @Test func misalignedOffsets() {
        var w = sampleWriter()
        w.tensors[1].offset = 140
        #expect(problem(w.write()) == .misalignedOffset(tensor: "norm.weight", offset: 140, alignment: 32))
    }

    @Test func dataPastTheEnd() {
        var w = sampleWriter()
        w.tensors[2].offset = 1 << 32
        w.tensors[2].data = []
        let (bytes, layout) = w.build()
        #expect(problem(bytes) == .dataPastEnd(tensor: "blk.0.attn_q.weight", end: UInt64(layout.dataStart) + (1 << 32) + 288, fileSize: bytes.count))
        w = sampleWriter()
        w.tensors[0].offset = UInt64.max - 31
        #expect(problem(w.write()) == .dataPastEnd(tensor: "token_embd.weight", end: UInt64.max - 31, fileSize: w.write().count))
    }

    @Test func overlappingTensors() {
        var w = sampleWriter()
        w.tensors[1].offset = 128  // inside token_embd.weight's 136 bytes
        #expect(problem(w.write()) == .overlappingTensors(first: "token_embd.weight", second: "norm.weight"))
    }
}

