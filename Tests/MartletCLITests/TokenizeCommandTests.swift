import Foundation
import Runtime
import TestSupport
import Testing

@Suite struct TokenizeCommandTests {
    @Test func tokenizesAndDetokenizes() throws {
        guard let path = TestPaths.model("qwen2.5-coder-0.5b-instruct") else { return }
        let plain = try CLI.run(["tokenize", "--model", path, "Hello <|im_end|> world"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout == "[9707, 82639, 318, 6213, 91, 29, 1879]\n")
        let special = try CLI.run(["tokenize", "--model", path, "--special", "Hello <|im_end|> world"])
        #expect(special.stdout == "[9707, 220, 151645, 1879]\n")
        let back = try CLI.run(["detokenize", "--model", path, "--special", "9707", "220", "151645", "1879"])
        #expect(back.stdout == "Hello <|im_end|> world\n")
        let bad = try CLI.run(["detokenize", "--model", path, "9707", "999999"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("token id 999999 is out of range for a vocabulary of 151936 tokens"))
    }

    @Test func tokenizesAFileWithBOS() throws {
        guard let path = TestPaths.model("gemma-3-270m") else { return }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(getpid()).txt")
        try "Hello world".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try CLI.run(["tokenize", "--model", path, "--bos", "--file", file.path])
        #expect(r.stdout == "[2, 9259, 1902]\n")
    }

    /// The names the executable resolves are the names the fetch script fetches.
    @Test func knownModelsAgreeWithTheFetchScript() throws {
        let p = Process()
        p.executableURL = TestPaths.root.appendingPathComponent("scripts/fetch-model")
        p.arguments = ["--list"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        var listed: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let cols = line.split(separator: " ", omittingEmptySubsequences: true)
            listed[String(cols[0])] = String(cols[2])
        }
        #expect(listed == KnownModels.files)
    }
}
