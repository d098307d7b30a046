import Foundation
import JSON
import TestSupport
import Testing
@testable import Templates

/// Every case of `../shared/fixtures/chat-templates`, rendered by Python's jinja2 as
/// transformers configures it: our output must be byte-for-byte the same, or fail where it
/// failed.
@Suite struct ChatTemplateFixtureTests {
    static let files: [String] = {
        let dir = TestPaths.fixture("chat-templates")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }()

    static func load(_ file: String) throws -> JSONValue {
        let data = try Data(contentsOf: TestPaths.fixture("chat-templates/" + file))
        return try JSONParser().parse(Array(data))
    }

    /// The fixtures' clock: `strftime_now` sees this day.
    static func now(_ fixture: JSONValue) -> Date {
        let day = fixture["now"]?.string ?? "2026-01-15"
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        return f.date(from: day) ?? Date()
    }

    static func context(_ json: JSONValue) -> [String: Value] {
        guard case .object(let o) = json else { return [:] }
        var ctx: [String: Value] = [:]
        for (k, v) in o.pairs {
            // What the client sent is untrusted; the rest comes from the model or the server.
            ctx[k] = Value(json: v, trusted: !(k == "messages" || k == "tools"))
        }
        return ctx
    }

    @Test func fixturesArePresent() {
        #expect(Self.files.count >= 12)
    }

    @Test(arguments: files)
    func rendersLikeJinja2(_ file: String) throws {
        let fixture = try Self.load(file)
        let template = try ChatTemplate(try #require(fixture["template"]?.string))
        guard case .array(let cases)? = fixture["cases"] else { Issue.record("no cases"); return }
        for c in cases {
            let name = c["name"]?.string ?? "?"
            let ctx = Self.context(c["context"] ?? .null)
            if let expected = c["expected"]?.string {
                do {
                    let out = try template.render(ctx, now: Self.now(fixture))
                    #expect(out.string.pyEquals(expected), "\(file) \(name):\n--- got\n\(out.string)\n--- expected\n\(expected)")
                } catch {
                    Issue.record("\(file) \(name): \(error)")
                }
            } else if let expectedError = c["error"]?.string {
                do {
                    let out = try template.render(ctx, now: Self.now(fixture))
                    Issue.record("\(file) \(name): expected error \(expectedError), rendered \(out.string.prefix(200))")
                } catch {
                    let message = expectedError.hasPrefix("TemplateError: ") ? String(expectedError.dropFirst(15)) : expectedError
                    #expect(error.message == message, "\(file) \(name)")
                    #expect(error.raisedByTemplate)
                }
            }
        }
    }
}
