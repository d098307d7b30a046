import GGUF

/// Builds GGUF files for tests: valid ones, and, through its raw knobs, every kind of broken
/// one. Not used by the server; it writes what the reader must accept or refuse.
public struct GGUFWriter {
    public struct Entry {
        public var key: String
        /// The value type and the encoded value, exactly as they follow the key in the file.
        public var encoded: [UInt8]

        public init(_ key: String, _ value: GGUFValue) {
            self.key = key
            self.encoded = le(value.type.rawValue) + GGUFWriter.encode(value)
        }

        /// An entry with hand-made bytes after the key (an unknown type, a lying length, …).
        public init(key: String, rawTypeAndValue: [UInt8]) {
            self.key = key
            self.encoded = rawTypeAndValue
        }
    }

    public struct Tensor {
        public var name: String
        public var shape: [UInt64]
        public var rawType: UInt32
        public var data: [UInt8]
        /// Offset from the start of the data section; placed after the previous tensor,
        /// aligned, when nil.
        public var offset: UInt64?

        public init(name: String, shape: [UInt64], type: GGMLType, data: [UInt8], offset: UInt64? = nil) {
            self.init(name: name, shape: shape, rawType: type.rawValue, data: data, offset: offset)
        }

        public init(name: String, shape: [UInt64], rawType: UInt32, data: [UInt8], offset: UInt64? = nil) {
            self.name = name
            self.shape = shape
            self.rawType = rawType
            self.data = data
            self.offset = offset
        }
    }

    public var magic: [UInt8] = Array("GGUF".utf8)
    public var version: UInt32 = 3
    public var entries: [Entry] = []
    public var tensors: [Tensor] = []
    /// Alignment used to place tensors and pad the data section (write `general.alignment`
    /// yourself to declare another one).
    public var alignment: Int = 32
    /// Override the counts written in the header.
    public var declaredTensorCount: UInt64?
    public var declaredKeyCount: UInt64?

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        entries.append(Entry(key, value))
    }

    public mutating func addTensor(_ name: String, shape: [Int], type: GGMLType, data: [UInt8]) {
        tensors.append(Tensor(name: name, shape: shape.map(UInt64.init), type: type, data: data))
    }

    /// Offsets where each section of the written file begins, for truncation tests.
    public struct Layout {
        public var keyStarts: [Int] = []
        public var tensorInfoStarts: [Int] = []
        public var dataStart = 0
        public var end = 0
    }

    public func write() -> [UInt8] { build().bytes }

    public func build() -> (bytes: [UInt8], layout: Layout) {
        var out: [UInt8] = magic
        var layout = Layout()
        out += le(version)
        out += le(declaredTensorCount ?? UInt64(tensors.count))
        out += le(declaredKeyCount ?? UInt64(entries.count))
        for e in entries {
            layout.keyStarts.append(out.count)
            out += Self.encodeString(e.key) + e.encoded
        }
        var offsets: [UInt64] = []
        var next: UInt64 = 0
        for t in tensors {
            let at = t.offset ?? next
            offsets.append(at)
            next = Self.aligned(at &+ UInt64(t.data.count), alignment)
        }
        for (t, at) in zip(tensors, offsets) {
            layout.tensorInfoStarts.append(out.count)
            out += Self.encodeString(t.name) + le(UInt32(t.shape.count))
            for d in t.shape { out += le(d) }
            out += le(t.rawType) + le(at)
        }
        out += [UInt8](repeating: 0, count: Int(Self.aligned(UInt64(out.count), alignment)) - out.count)
        layout.dataStart = out.count
        for (t, at) in zip(tensors, offsets) where !t.data.isEmpty {
            guard let relative = Int(exactly: at), relative < 1 << 30 else { continue }  // a lying offset: no data
            let start = layout.dataStart + relative
            if out.count < start { out += [UInt8](repeating: 0, count: start - out.count) }
            // Overlapping tensors (a test's choice) overwrite; write what fits.
            for (i, b) in t.data.enumerated() {
                if start + i < out.count { out[start + i] = b } else { out.append(b) }
            }
        }
        layout.end = out.count
        return (out, layout)
    }

    static func aligned(_ x: UInt64, _ a: Int) -> UInt64 {
        let a = UInt64(a)
        return (x &+ a &- 1) / a &* a
    }

    public static func encodeString(_ s: String) -> [UInt8] {
        le(UInt64(s.utf8.count)) + Array(s.utf8)
    }

    /// The bytes of a value without its type tag.
    public static func encode(_ value: GGUFValue) -> [UInt8] {
        switch value {
        case .uint8(let v): return [v]
        case .int8(let v): return [UInt8(bitPattern: v)]
        case .uint16(let v): return le(v)
        case .int16(let v): return le(v)
        case .uint32(let v): return le(v)
        case .int32(let v): return le(v)
        case .uint64(let v): return le(v)
        case .int64(let v): return le(v)
        case .float32(let v): return le(v.bitPattern)
        case .float64(let v): return le(v.bitPattern)
        case .bool(let b): return [b ? 1 : 0]
        case .string(let s): return encodeString(s)
        case .array(let type, let values):
            return le(type.rawValue) + le(UInt64(values.count)) + values.flatMap(encode)
        }
    }
}

/// Little-endian bytes of an integer.
public func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    withUnsafeBytes(of: v.littleEndian) { Array($0) }
}
