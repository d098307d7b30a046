import GGUF

/// Why a tokenizer could not be built from a model file, or why ids could not be decoded.
public enum TokenizerError: Error, Equatable, CustomStringConvertible, Sendable {
    case file(GGUFError)
    case missingKey(String, file: String)
    case unsupportedModel(String, file: String)
    case inconsistentVocabulary(String, file: String)
    case tokenOutOfRange(id: Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case .file(let e): return e.description
        case let .missingKey(key, file): return "missing \(key) in \(file)"
        case let .unsupportedModel(model, file):
            return "\(file): tokenizer model \(model) is not supported (supported: gpt2, llama)"
        case let .inconsistentVocabulary(what, file): return "\(file): \(what)"
        case let .tokenOutOfRange(id, n): return "token id \(id) is out of range for a vocabulary of \(n) tokens"
        }
    }
}
