import Foundation
import Testing

/// `martlet serve` refuses bad settings before it listens, naming the setting.
@Suite struct ServeCommandTests {
    func config(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("martlet-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: [
        ("colour: blue\n", "unknown setting 'colour'"),
        ("port: eighty\n", "port must be an integer, got 'eighty'"),
        ("port: 70000\n", "port must be between 0 and 65535, got 70000"),
        ("max_body_bytes: 0\n", "max_body_bytes must be between 1 and 1073741824, got 0"),
        ("just words\n", "expected 'key: value'"),
    ])
    func badSettings(_ text: String, _ message: String) throws {
        let path = try config(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try CLI.run(["serve", "--config", path])
        #expect(r.status != 0)
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFile() throws {
        let path = try config("port: 8080\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let env = try CLI.run(["serve", "--config", path], environment: ["MARTLET_PORT": "70000"])
        #expect(env.status != 0 && env.stderr.contains("port must be between 0 and 65535, got 70000"), "\(env.stderr)")
        let bad = try CLI.run(["serve", "--config", path], environment: ["MARTLET_PORT": "eighty"])
        #expect(bad.stderr.contains("environment variable MARTLET_PORT: port must be an integer, got 'eighty'"), "\(bad.stderr)")
        let flag = try CLI.run(["serve", "--config", path, "--port=70001"], environment: ["MARTLET_PORT": "70000"])
        #expect(flag.stderr.contains("got 70001"), "\(flag.stderr)")
    }

    @Test func theShippedConfigurationIsValid() throws {
        // Every key in config/martlet.yaml is one serve knows (checked without serving:
        // an impossible port is the only error).
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let r = try CLI.run(["serve", "--config", root.appendingPathComponent("config/martlet.yaml").path, "--port=70000"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("port must be between 0 and 65535, got 70000"), "\(r.stderr)")
    }
}
