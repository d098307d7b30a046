import Foundation

/// The models `scripts/fetch-model` knows, by name, and where they live once fetched.
/// (The fetch recipe, with sizes and checksums, is in the script; a test keeps the two lists
/// in agreement.)
public enum KnownModels {
    public static let defaultName = "smollm2-135m-instruct"

    /// name → file name in the models folder
    public static let files: [String: String] = [
        "smollm2-135m-instruct": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "qwen2.5-coder-0.5b-instruct": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "gemma-3-270m": "gemma-3-270m-q4_k_m.gguf",
        "qwen2.5-coder-1.5b-instruct": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ]

    /// The models folder: `MARTLET_MODELS_DIR`, else `models/` in the working directory.
    public static var directory: URL {
        if let dir = ProcessInfo.processInfo.environment["MARTLET_MODELS_DIR"] { return URL(fileURLWithPath: dir) }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("models")
    }

    /// A path for `nameOrPath`: a known name maps to its file in the models folder;
    /// anything else is taken as a path.
    public static func resolve(_ nameOrPath: String, in directory: URL = directory) -> String {
        if let file = files[nameOrPath] { return directory.appendingPathComponent(file).path }
        return nameOrPath
    }
}
