import Foundation
import Runtime
import Testing

/// Where tests find the shared fixtures and the fetched models.
public enum TestPaths {
    /// The package root, found from this file's place in the tree.
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/fixtures`, beside the project root.
    public static let fixtures: URL = root.deletingLastPathComponent().appendingPathComponent("shared/fixtures")

    public static func fixture(_ relative: String) -> URL { fixtures.appendingPathComponent(relative) }

    public static let modelsDirectory: URL = {
        if let dir = ProcessInfo.processInfo.environment["MARTLET_MODELS_DIR"] { return URL(fileURLWithPath: dir) }
        return root.appendingPathComponent("models")
    }()


    /// The path of a fetched model. When it is missing, the test fails under CI (which
    /// fetches every model) and elsewhere is skipped with a printed reason.
    public static func model(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let path = KnownModels.resolve(name, in: modelsDirectory)
        if FileManager.default.fileExists(atPath: path) { return path }
        let reason = "model \(name) is not at \(path); run scripts/fetch-model \(name)"
        if ProcessInfo.processInfo.environment["CI"] != nil {
            Issue.record(Comment(rawValue: reason), sourceLocation: sourceLocation)
        } else {
            print("skipping: \(reason)")
        }
        return nil
    }
}
