/// Bounds that keep a hostile header from allocating without limit or recursing without
/// end. Every count read from a file is checked against one of these, and against the
/// bytes actually left in the file, before anything is allocated.
public struct GGUFLimits: Sendable {
    /// Longest string value or key, in bytes (a chat template is tens of KiB).
    public var maxStringLength: Int = 16 << 20
    /// Most elements in one array (vocabularies and merge lists run to a few hundred thousand).
    public var maxArrayLength: Int = 16 << 20
    /// Deepest nesting of arrays inside arrays.
    public var maxArrayDepth: Int = 8
    /// Most metadata key-value pairs.
    public var maxKeys: Int = 1 << 16
    /// Most tensors.
    public var maxTensors: Int = 1 << 16
    /// Most dimensions of a tensor (GGML_MAX_DIMS).
    public var maxDimensions: Int = 4
    /// Longest tensor name, in bytes (ggml keeps names in a 64-byte field, NUL included).
    public var maxTensorNameLength: Int = 63
    /// Largest alignment accepted for the data section.
    public var maxAlignment: Int = 1 << 16

    public init() {}
    public static let `default` = GGUFLimits()
}
