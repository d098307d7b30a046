import JSON
import Testing

@Suite struct JSONTests {
    @Test(arguments: [
        (1.0, "1.0"), (0.5, "0.5"), (1e-05, "1e-05"), (0.0001, "0.0001"), (1e15, "1000000000000000.0"),
        (1e16, "1e+16"), (1.2345678901234568e+17, "1.2345678901234568e+17"), (3.14159, "3.14159"), (-2.5, "-2.5"),
        (1e-07, "1e-07"), (0.1, "0.1"), (100.0, "100.0"), (2.5e-05, "2.5e-05"),
        (1.7976931348623157e+308, "1.7976931348623157e+308"), (5e-324, "5e-324"), (12345.678, "12345.678"),
        (1e+22, "1e+22"), (0.30000000000000004, "0.30000000000000004"),
    ])
    func floatsPrintLikePythonRepr(_ value: Double, _ expected: String) {
        #expect(PythonJSON.floatRepr(value) == expected)
    }

    @Test func dumpsLikePython() throws {
        let v = try JSONParser().parse(#"{"a": [1, 2.0, "x\"\\\n\tü\u0001"], "b": null, "c": true, "d": {}}"#)
        #expect(PythonJSON.dumps(v) == #"{"a": [1, 2.0, "x\"\\\n\tü\u0001"], "b": null, "c": true, "d": {}}"#)
        let w = try JSONParser().parse(#"{"a":[1,2.0],"b":{"c":[]}}"#)
        #expect(PythonJSON.dumps(w, indent: 2) == "{\n  \"a\": [\n    1,\n    2.0\n  ],\n  \"b\": {\n    \"c\": []\n  }\n}")
    }

    @Test func keepsKeyOrderAndIntegerness() throws {
        let v = try JSONParser().parse(#"{"z": 1, "a": 1.0, "m": -0, "z": 3}"#)
        guard case .object(let o) = v else { Issue.record("not an object"); return }
        #expect(o.keys == ["z", "a", "m"])
        #expect(o["z"] == .int(3))
        #expect(o["a"] == .double(1.0))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"\u{01}\"", "\"\\ud800\"", "\"\\udc00x\"",
        "nul", "[1] 2", "1e999", "\"abc",
    ])
    func refusesMalformedJSON(_ text: String) {
        #expect(throws: JSONError.self) { try JSONParser().parse(text) }
    }

    @Test func refusesDeepNestingWithoutRecursingForever() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONError(message: "JSON nested deeper than 128 levels", offset: 128)) { try JSONParser().parse(deep) }
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: JSONError.self) { try JSONParser().parse([0x22, 0xFF, 0x22]) }
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try JSONParser().parse(#""\ud83e\udd99""#) == .string("🦙"))
    }
}
