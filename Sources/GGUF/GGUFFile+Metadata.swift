/// Typed access to metadata. A key that is present with the wrong type is an error, never
/// silently treated as absent.
extension GGUFFile {
    private func fail(_ problem: GGUFError.Problem) -> GGUFError { GGUFError(file: path, problem: problem) }

    public func string(_ key: String) throws(GGUFError) -> String? {
        guard let value = metadata[key] else { return nil }
        guard let s = value.string else { throw fail(.wrongValueType(key: key, expected: "string", found: value.typeName)) }
        return s
    }

    public func int(_ key: String) throws(GGUFError) -> Int? {
        guard let value = metadata[key] else { return nil }
        guard let i = value.int else { throw fail(.wrongValueType(key: key, expected: "integer", found: value.typeName)) }
        return i
    }

    public func double(_ key: String) throws(GGUFError) -> Double? {
        guard let value = metadata[key] else { return nil }
        guard let d = value.double else { throw fail(.wrongValueType(key: key, expected: "number", found: value.typeName)) }
        return d
    }

    public func bool(_ key: String) throws(GGUFError) -> Bool? {
        guard let value = metadata[key] else { return nil }
        guard let b = value.bool else { throw fail(.wrongValueType(key: key, expected: "bool", found: value.typeName)) }
        return b
    }

    public func array(_ key: String) throws(GGUFError) -> [GGUFValue]? {
        guard let value = metadata[key] else { return nil }
        guard let a = value.array else { throw fail(.wrongValueType(key: key, expected: "array", found: value.typeName)) }
        return a
    }

    /// An array of strings, as `tokenizer.ggml.tokens`.
    public func strings(_ key: String) throws(GGUFError) -> [String]? {
        guard let value = metadata[key] else { return nil }
        guard case .array(.string, let values) = value else {
            throw fail(.wrongValueType(key: key, expected: "array[string]", found: value.typeName))
        }
        return values.map { $0.string! }
    }

    /// An array of integers, as `tokenizer.ggml.token_type`.
    public func ints(_ key: String) throws(GGUFError) -> [Int]? {
        guard let value = metadata[key] else { return nil }
        guard case .array(_, let values) = value, let ints = Optional(values.compactMap(\.int)), ints.count == values.count else {
            throw fail(.wrongValueType(key: key, expected: "array of integers", found: value.typeName))
        }
        return ints
    }

    /// An array of numbers, as `tokenizer.ggml.scores`.
    public func floats(_ key: String) throws(GGUFError) -> [Float]? {
        guard let value = metadata[key] else { return nil }
        guard case .array(_, let values) = value, let ds = Optional(values.compactMap(\.double)), ds.count == values.count else {
            throw fail(.wrongValueType(key: key, expected: "array of numbers", found: value.typeName))
        }
        return ds.map(Float.init)
    }

    /// The architecture name (`general.architecture`), which prefixes the model's own keys.
    public var architecture: String? { try? string("general.architecture") }
}
