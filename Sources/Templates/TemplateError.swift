/// Why a template could not be compiled or rendered. `raise_exception` raises one with the
/// template's own message; the others name the problem and, where known, the line.
public struct TemplateError: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String
    public var line: Int?
    /// Raised by the template itself through `raise_exception`.
    public var raisedByTemplate = false

    public init(_ message: String, line: Int? = nil) {
        self.message = message
        self.line = line
    }

    public var description: String {
        if raisedByTemplate { return message }
        return line.map { "chat template line \($0): \(message)" } ?? "chat template: \(message)"
    }
}

/// Bounds that keep a hostile template from hanging or exhausting the server.
public struct TemplateLimits: Sendable {
    /// Total loop iterations in one render.
    public var maxIterations = 1_000_000
    /// Nested macro calls and nested expressions.
    public var maxDepth = 200
    /// Bytes of output, and of any one string built while rendering.
    public var maxOutputBytes = 16 << 20

    public init() {}
}
