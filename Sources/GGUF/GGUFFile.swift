/// A parsed GGUF file (versions 2 and 3): its metadata and tensor infos, with tensor data
/// viewed in place in the memory map, never copied.
///
/// Layout (ggml `docs/gguf.md`): magic "GGUF", u32 version, u64 tensor count, u64 key
/// count, the key-value pairs, the tensor infos, padding to `general.alignment`, then the
/// data section. Everything read from the file is bounds- and overflow-checked.
/// Immutable after init; safe to share across threads.
public final class GGUFFile: Sendable {
    public static let defaultAlignment = 32

    public let path: String
    public let version: UInt32
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataOffset: Int
    public let storage: MappedFile
    private let tensorIndex: [String: Int]

    public var fileSize: Int { storage.bytes.count }

    /// Maps and parses the file at `path`.
    public convenience init(path: String, limits: GGUFLimits = .default) throws(GGUFError) {
        try self.init(storage: try MappedFile(path: path), name: path, limits: limits)
    }

    /// Parses bytes held in memory; `name` stands for the file in error messages.
    public convenience init(bytes: some Collection<UInt8>, name: String = "<memory>", limits: GGUFLimits = .default) throws(GGUFError) {
        try self.init(storage: MappedFile(copying: bytes), name: name, limits: limits)
    }

    public init(storage: MappedFile, name: String, limits: GGUFLimits = .default) throws(GGUFError) {
        var r = ByteReader(bytes: storage.bytes, file: name)
        let magic = try r.readBytes(4, "magic")
        guard Array(magic) == Array("GGUF".utf8) else { throw r.fail(.badMagic(found: Array(magic))) }
        let version = try r.read(UInt32.self, "version")
        if version & 0xFFFF == 0 && version != 0 { throw r.fail(.bigEndian(version: version)) }
        guard version == 2 || version == 3 else { throw r.fail(.unsupportedVersion(version)) }
        let tensorCount = try r.read(UInt64.self, "tensor count")
        let keyCount = try r.read(UInt64.self, "metadata key count")
        guard keyCount <= UInt64(limits.maxKeys) else { throw r.fail(.tooManyKeys(count: keyCount, limit: limits.maxKeys)) }
        guard tensorCount <= UInt64(limits.maxTensors) else {
            throw r.fail(.tooManyTensors(count: tensorCount, limit: limits.maxTensors))
        }

        // MARK: - Metadata
        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        for ik in 0..<Int(keyCount) {
            let key = try r.readString("key of metadata pair \(ik)", limit: limits.maxStringLength)
            let rawType = try r.read(UInt32.self, "value type of key \(key)")
            guard let type = GGUFValueType(rawValue: rawType) else { throw r.fail(.unknownValueType(key: key, raw: rawType)) }
            let value = try Self.readValue(&r, type: type, key: key, depth: 0, limits: limits)
            guard metadata.updateValue(value, forKey: key) == nil else { throw r.fail(.duplicateKey(key)) }
            keys.append(key)
        }

        var alignment = Self.defaultAlignment
        if let value = metadata["general.alignment"] {
            guard case .uint32(let a) = value else {
                throw r.fail(.wrongValueType(key: "general.alignment", expected: "uint32", found: value.typeName))
            }
            guard a > 0, a.nonzeroBitCount == 1, Int(a) <= limits.maxAlignment else { throw r.fail(.badAlignment(UInt64(a))) }
            alignment = Int(a)
        }

        // MARK: - Tensor infos
        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for it in 0..<Int(tensorCount) {
            let name = try r.readString("name of tensor \(it)", limit: limits.maxStringLength)
            guard name.utf8.count <= limits.maxTensorNameLength else {
                throw r.fail(.tensorNameTooLong(name: name, length: name.utf8.count, limit: limits.maxTensorNameLength))
            }
            guard index[name] == nil else { throw r.fail(.duplicateTensor(name)) }
            let nDims = try r.read(UInt32.self, "dimension count of tensor \(name)")
            guard nDims >= 1, nDims <= UInt32(limits.maxDimensions) else {
                throw r.fail(.badDimensionCount(tensor: name, count: nDims, limit: limits.maxDimensions))
            }
            var rawShape: [UInt64] = []
            for id in 0..<Int(nDims) {
                rawShape.append(try r.read(UInt64.self, "dimension \(id) of tensor \(name)"))
            }
            let rawType = try r.read(UInt32.self, "type of tensor \(name)")
            let offset = try r.read(UInt64.self, "data offset of tensor \(name)")

            var shape: [Int] = []
            var elements = 1
            for (id, d) in rawShape.enumerated() {
                guard let dim = Int(exactly: d) else { throw r.fail(.badDimension(tensor: name, index: id, value: d)) }
                let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw r.fail(.elementCountOverflow(tensor: name, shape: rawShape)) }
                elements = product
                shape.append(dim)
            }
            guard let type = GGMLType(rawValue: rawType) else { throw r.fail(.unknownTensorType(tensor: name, raw: rawType)) }
            guard shape[0] % type.blockSize == 0 else {
                throw r.fail(.rowNotBlockMultiple(tensor: name, rowLength: shape[0], type: type.name, blockSize: type.blockSize))
            }
            guard let byteCount = type.byteCount(elements: elements) else {
                throw r.fail(.elementCountOverflow(tensor: name, shape: rawShape))
            }
            guard offset % UInt64(alignment) == 0 else {
                throw r.fail(.misalignedOffset(tensor: name, offset: offset, alignment: alignment))
            }
            guard let relative = Int(exactly: offset) else {
                throw r.fail(.dataPastEnd(tensor: name, end: offset, fileSize: storage.bytes.count))
            }
            index[name] = tensors.count
            tensors.append(GGUFTensorInfo(name: name, shape: shape, type: type, offset: relative, byteCount: byteCount))
        }

        // MARK: - Data section
        // The padding after the infos may be absent in a file without tensors.
        let (padded, _) = r.offset.addingReportingOverflow((alignment - r.offset % alignment) % alignment)
        let dataOffset = padded
        let fileSize = storage.bytes.count
        for t in tensors {
            let (start, o1) = dataOffset.addingReportingOverflow(t.offset)
            let (end, o2) = start.addingReportingOverflow(t.byteCount)
            guard !o1, !o2, end <= fileSize else {
                let reported = (o1 || o2) ? UInt64.max : UInt64(end)
                throw r.fail(.dataPastEnd(tensor: t.name, end: reported, fileSize: fileSize))
            }
        }
        let byOffset = tensors.sorted { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw r.fail(.overlappingTensors(first: a.name, second: b.name))
        }

        self.path = name
        self.version = version
        self.metadataKeys = keys
        self.metadata = metadata
        self.tensors = tensors
        self.tensorIndex = index
        self.alignment = alignment
        self.dataOffset = dataOffset
        self.storage = storage
    }

    private static func readValue(_ r: inout ByteReader, type: GGUFValueType, key: String, depth: Int, limits: GGUFLimits) throws(GGUFError) -> GGUFValue {
        let what = "value of key \(key)"
        switch type {
        case .uint8: return .uint8(try r.read(UInt8.self, what))
        case .int8: return .int8(try r.read(Int8.self, what))
        case .uint16: return .uint16(try r.read(UInt16.self, what))
        case .int16: return .int16(try r.read(Int16.self, what))
        case .uint32: return .uint32(try r.read(UInt32.self, what))
        case .int32: return .int32(try r.read(Int32.self, what))
        case .uint64: return .uint64(try r.read(UInt64.self, what))
        case .int64: return .int64(try r.read(Int64.self, what))
        case .float32: return .float32(try r.readFloat(what))
        case .float64: return .float64(try r.readDouble(what))
        case .bool:
            let b = try r.read(UInt8.self, what)
            guard b <= 1 else { throw r.fail(.wrongValueType(key: key, expected: "bool (0 or 1)", found: "byte \(b)")) }
            return .bool(b == 1)
        case .string: return .string(try r.readString(what, limit: limits.maxStringLength))
        case .array:
            guard depth < limits.maxArrayDepth else { throw r.fail(.arrayTooDeep(key: key, limit: limits.maxArrayDepth)) }
            let rawType = try r.read(UInt32.self, "element type of key \(key)")
            guard let elementType = GGUFValueType(rawValue: rawType) else { throw r.fail(.unknownValueType(key: key, raw: rawType)) }
            let count = try r.read(UInt64.self, "length of array \(key)")
            guard count <= UInt64(limits.maxArrayLength) else {
                throw r.fail(.arrayTooLong(key: key, length: count, limit: limits.maxArrayLength))
            }
            // Refuse before allocating: each element takes at least `minimumSize` bytes.
            guard count <= UInt64(r.remaining / elementType.minimumSize) else {
                throw r.fail(.arrayPastEnd(key: key, length: count, bytesLeft: r.remaining))
            }
            var values: [GGUFValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                values.append(try readValue(&r, type: elementType, key: key, depth: depth + 1, limits: limits))
            }
            return .array(elementType, values)
        }
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's bytes, in place in the map; valid while this file is alive.
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataOffset + tensor.offset
        return UnsafeRawBufferPointer(rebasing: storage.bytes[start..<(start + tensor.byteCount)])
    }
}
