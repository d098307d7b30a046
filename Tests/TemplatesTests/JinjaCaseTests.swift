import Foundation
import JSON
import TestSupport
import Testing
@testable import Templates

/// Cases written for the engine's features, with expectations rendered by Python's jinja2
/// (`scripts/make-jinja-cases.py` regenerates `Data/jinja-cases.json`).
@Suite struct JinjaCaseTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var template: String
        var context: JSONValue
        var expected: String?
        var error: String?
        var description: String { name }
    }

    static let cases: [Case] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Data/jinja-cases.json")
        guard let data = try? Data(contentsOf: url), case .array(let list)? = try? JSONParser().parse(Array(data)) else { return [] }
        return list.map { c in
            Case(name: c["name"]?.string ?? "?", template: c["template"]?.string ?? "", context: c["context"] ?? .object(JSONObject()),
                 expected: c["expected"]?.string, error: c["error"]?.string)
        }
    }()

    static let now = Date(timeIntervalSince1970: 1_768_435_200)  // 2026-01-15 00:00 UTC

    @Test func casesArePresent() { #expect(Self.cases.count >= 45) }

    @Test(arguments: cases)
    func rendersLikeJinja2(_ c: Case) throws {
        var ctx: [String: Value] = [:]
        if case .object(let o) = c.context { for (k, v) in o.pairs { ctx[k] = Value(json: v) } }
        do {
            let t = try ChatTemplate(c.template)
            let out = try t.render(ctx, now: Self.now)
            if let expected = c.expected {
                #expect(out.string.pyEquals(expected), "\n--- got\n\(out.string.debugDescription)\n--- expected\n\(expected.debugDescription)")
            } else {
                Issue.record("expected \(c.error ?? "an error"), rendered \(out.string.debugDescription)")
            }
        } catch {
            if c.expected != nil { Issue.record("unexpected error: \(error)") }
            #expect(!error.description.isEmpty)
        }
    }
}
