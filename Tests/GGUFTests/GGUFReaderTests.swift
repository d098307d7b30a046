import GGUF
import TestSupport
import Testing

/// A small valid file with every metadata type, nested arrays and three tensors.
func sampleWriter() -> GGUFWriter {
    var w = GGUFWriter()
    w.set("general.architecture", .string("llama"))
    w.set("general.name", .string("tiny ✓"))
    w.set("u8", .uint8(200))
    w.set("i8", .int8(-100))
    w.set("u16", .uint16(60_000))
    w.set("i16", .int16(-30_000))
    w.set("u32", .uint32(4_000_000_000))
    w.set("i32", .int32(-2_000_000_000))
    w.set("u64", .uint64(1 << 60))
    w.set("i64", .int64(-(1 << 60)))
    w.set("f32", .float32(1.5))
    w.set("f64", .float64(-2.25))
    w.set("flag", .bool(true))
    w.set("strings", .array(.string, [.string("a"), .string(""), .string("ü")]))
    w.set("nested", .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [])]))
    w.addTensor("token_embd.weight", shape: [32, 4], type: .q8_0, data: (0..<(34 * 4)).map { UInt8($0 % 251) })
    w.addTensor("norm.weight", shape: [32], type: .f32, data: [UInt8](repeating: 7, count: 128))
    w.addTensor("blk.0.attn_q.weight", shape: [256, 2], type: .q4_K, data: [UInt8](repeating: 9, count: 288))
    return w
}

/// The problem a parse of `bytes` fails with; records an issue if it succeeds.
func problem(_ bytes: [UInt8], limits: GGUFLimits = .default, sourceLocation: SourceLocation = #_sourceLocation) -> GGUFError.Problem? {
    do {
        _ = try GGUFFile(bytes: bytes, name: "test.gguf", limits: limits)
        Issue.record("expected the file to be refused", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(error.file == "test.gguf", sourceLocation: sourceLocation)
        #expect(!error.description.isEmpty, sourceLocation: sourceLocation)
        return error.problem
    }
}

@Suite struct GGUFReaderTests {
    @Test func readsEveryValueTypeAndTensor() throws {
        let w = sampleWriter()
        let file = try GGUFFile(bytes: w.write(), name: "test.gguf")
        #expect(file.version == 3)
        #expect(file.metadataKeys.first == "general.architecture")
        #expect(file.metadata["u8"] == .uint8(200))
        #expect(file.metadata["i8"] == .int8(-100))
        #expect(file.metadata["u16"] == .uint16(60_000))
        #expect(file.metadata["i16"] == .int16(-30_000))
        #expect(file.metadata["u32"] == .uint32(4_000_000_000))
        #expect(file.metadata["i32"] == .int32(-2_000_000_000))
        #expect(file.metadata["u64"] == .uint64(1 << 60))
        #expect(file.metadata["i64"] == .int64(-(1 << 60)))
        #expect(file.metadata["f32"] == .float32(1.5))
        #expect(file.metadata["f64"] == .float64(-2.25))
        #expect(try file.bool("flag") == true)
        #expect(try file.string("general.name") == "tiny ✓")
        #expect(try file.strings("strings") == ["a", "", "ü"])
        #expect(file.metadata["nested"] == .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [])]))
        #expect(file.tensors.map(\.name) == ["token_embd.weight", "norm.weight", "blk.0.attn_q.weight"])

        let embd = try #require(file.tensor(named: "token_embd.weight"))
        #expect(embd.shape == [32, 4])
        #expect(embd.type == .q8_0)
        #expect(embd.byteCount == 136)
        #expect(embd.rowCount == 4)
        #expect(Array(file.data(of: embd)) == w.tensors[0].data)
        let q = try #require(file.tensor(named: "blk.0.attn_q.weight"))
        #expect(q.byteCount == 288)
        #expect(Array(file.data(of: q)) == w.tensors[2].data)
        #expect(file.dataOffset % 32 == 0)
        #expect(file.tensors.allSatisfy { $0.offset % 32 == 0 })
    }

    @Test func readsVersion2AndCustomAlignment() throws {
        var w = sampleWriter()
        w.version = 2
        w.alignment = 64
        w.set("general.alignment", .uint32(64))
        let file = try GGUFFile(bytes: w.write(), name: "test.gguf")
        #expect(file.version == 2)
        #expect(file.alignment == 64)
        #expect(file.dataOffset % 64 == 0)
        #expect(Array(file.data(of: file.tensors[1])) == w.tensors[1].data)
    }

    @Test func typedAccessRefusesTheWrongType() throws {
        let file = try GGUFFile(bytes: sampleWriter().write(), name: "test.gguf")
        #expect(throws: GGUFError(file: "test.gguf", problem: .wrongValueType(key: "u8", expected: "string", found: "uint8"))) {
            try file.string("u8")
        }
        #expect(try file.int("missing") == nil)
        #expect(try file.int("u64") == 1 << 60)
        #expect(throws: GGUFError.self) { try file.strings("nested") }
    }

    @Test func fileErrorsNameThePath() {
        #expect(throws: GGUFError.self) { try GGUFFile(path: "/nonexistent/model.gguf") }
        do {
            _ = try GGUFFile(path: "/tmp")
            Issue.record("a directory must be refused")
        } catch {
            #expect(error.problem == .cannotOpen(reason: "not a regular file"))
            #expect(error.description.hasPrefix("/tmp: "))
        }
    }

    @Test func errorMessagesNameTheValueAndTheLimit() {
        let e = GGUFError(file: "model.gguf", problem: .dataPastEnd(tensor: "blk.3.ffn_up.weight", end: 4_294_967_400, fileSize: 98_362_432))
        #expect(e.description == "model.gguf: tensor blk.3.ffn_up.weight: data ends at byte 4_294_967_400, past the end of the file (98_362_432 bytes)")
    }
}
