/// One tensor's description from the header. `shape[0]` is ggml's `ne[0]`, the length of a
/// row (the fastest-varying dimension).
public struct GGUFTensorInfo: Equatable, Sendable {
    public let name: String
    public let shape: [Int]
    public let type: GGMLType
    /// Offset of the tensor's data from the start of the data section.
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { shape.reduce(1, *) }
    public var rowLength: Int { shape[0] }
    public var rowCount: Int { elementCount / max(shape[0], 1) }
}
