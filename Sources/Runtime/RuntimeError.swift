import GGUF

/// Why a model cannot be loaded or run. One error type for the module; the API maps it to
/// a response in one place.
public enum RuntimeError: Error, Equatable, CustomStringConvertible, Sendable {
    case file(GGUFError)
    case unsupportedArchitecture(String, file: String, supported: [String])
    case missingKey(String, file: String)
    case invalidHyperparameter(key: String, value: String, expected: String, file: String)

    public var description: String {
        switch self {
        case .file(let e):
            return e.description
        case let .unsupportedArchitecture(arch, file, supported):
            return "\(file): architecture \(arch) is not supported (supported: \(supported.joined(separator: ", ")))"
        case let .missingKey(key, file):
            return "missing \(key) in \(file)"
        case let .invalidHyperparameter(key, value, expected, file):
            return "\(file): \(key) is \(value), expected \(expected)"
        }
    }
}
