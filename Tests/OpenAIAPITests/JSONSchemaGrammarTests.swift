import JSON
import Testing
@testable import OpenAIAPI

/// The compiled grammar accepts exactly the documents the schema does (within what it
/// supports), read byte by byte.
@Suite struct JSONSchemaGrammarTests {
    static func accepts(_ schema: String?, _ doc: String) throws -> Bool {
        let g = try JSONSchemaGrammar(schema: schema.map { try JSONParser().parse($0) })
        guard let end = GrammarState(grammar: g.grammar, root: g.root).advanced(Array(doc.utf8), g.grammar) else { return false }
        return end.isComplete
    }

    static let person = #"{"type": "object", "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 5}, "age": {"type": "integer"}, "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 2}, "nick": {"type": ["string", "null"]}}, "required": ["name", "age", "tags"], "additionalProperties": false}"#

    @Test(arguments: [
        (#"{"name": "Ada", "age": 36, "tags": ["a"]}"#, true),
        (#"{ "name" : "Ada" , "age" : -1 , "tags" : [ "b" , "a" ] , "nick" : null }"#, true),
        ("{\n  \"name\": \"Ada\",\n  \"age\": 0,\n  \"tags\": [\"a\"],\n  \"nick\": \"A\"\n}", true),
        (#"{"name": "Ada", "age": 36}"#, false),                          // missing required
        (#"{"name": "", "age": 36, "tags": ["a"]}"#, false),              // minLength
        (#"{"name": "Adaaaa", "age": 36, "tags": ["a"]}"#, false),        // maxLength
        (#"{"name": "Ada", "age": 3.5, "tags": ["a"]}"#, false),          // integer
        (#"{"name": "Ada", "age": 36, "tags": []}"#, false),              // minItems
        (#"{"name": "Ada", "age": 36, "tags": ["a", "b", "a"]}"#, false), // maxItems
        (#"{"name": "Ada", "age": 36, "tags": ["c"]}"#, false),           // enum
        (#"{"name": "Ada", "age": 36, "tags": ["a"], "x": 1}"#, false),   // additionalProperties
        (#"{"name": "Ada", "age": 012, "tags": ["a"]}"#, false),          // leading zero
        (#"{"name": "A\"é\u00e9", "age": 1, "tags": ["a"]}"#, true),       // escapes and UTF-8 count as characters
    ])
    func person(_ doc: String, _ valid: Bool) throws {
        #expect(try Self.accepts(Self.person, doc) == valid, "\(doc)")
    }

    @Test func recursionAlternativesAndAnyJSON() throws {
        let tree = ##"{"$defs": {"node": {"type": "object", "properties": {"v": {"type": "number"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["v"]}}, "$ref": "#/$defs/node"}"##
        #expect(try Self.accepts(tree, #"{"v": 1, "kids": [{"v": 2.5e3}, {"v": -0.5, "kids": []}]}"#))
        #expect(try !Self.accepts(tree, #"{"v": 1, "kids": [{"w": 2}]}"#))
        let either = #"{"anyOf": [{"type": "boolean"}, {"const": {"k": [1, "x"]}}]}"#
        #expect(try Self.accepts(either, "true") && Self.accepts(either, #"{"k": [1, "x"]}"#))
        #expect(try !Self.accepts(either, "1"))
        #expect(try Self.accepts(nil, #"[{"a": {"b": [null, false, "s\n", 1e-3]}}, {}]"#))
        #expect(try !Self.accepts(nil, #"[1,]"#))
        let map = #"{"type": "object", "additionalProperties": {"type": "integer"}}"#
        #expect(try Self.accepts(map, #"{"x": 1, "y": 2}"#) && !Self.accepts(map, #"{"x": "1"}"#))
        #expect(try JSONSchemaGrammar.anyObject().grammar.rules.count > 0)
    }

    @Test func loopsThatReadNothingAreRefused() throws {
        let selfRef = ##"{"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}"##
        let viaAnyOf = ##"{"$defs": {"a": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}"##
        for schema in [selfRef, viaAnyOf] {
            #expect(throws: JSONSchemaGrammar.Unsupported.self) { try JSONSchemaGrammar(schema: try JSONParser().parse(schema)) }
        }
        // A left-recursive grammar built by hand does not hang the reader either.
        var g = Grammar()
        let r = g.declare()
        g.define(r, [[.rule(r)], [.bytes(ByteSet([0x61]))]])
        let state = GrammarState(grammar: g, root: r)
        #expect(state.advanced(Array("a".utf8), g)?.isComplete == true)
    }

    @Test(arguments: ["pattern", "format", "not", "if", "patternProperties", "uniqueItems", "multipleOf"])
    func unsupportedKeywordsAreNamed(_ keyword: String) {
        let schema = JSONValue.object(JSONObject([("type", .string("object")), ("properties", .object(JSONObject([("x", .object(JSONObject([(keyword, .int(1))])))])))]))
        #expect { try JSONSchemaGrammar(schema: schema) } throws: { e in
            (e as? JSONSchemaGrammar.Unsupported)?.keyword == keyword && (e as? JSONSchemaGrammar.Unsupported)?.path == "#/properties/x"
        }
    }
}

@Suite struct BoundedNumberTests {
    @Test func integersBetweenBounds() throws {
        let schema = #"{"type": "integer", "minimum": -12, "maximum": 305}"#
        for v in -30...400 {
            #expect(try JSONSchemaGrammarTests.accepts(schema, String(v)) == (-12...305).contains(v), "\(v)")
        }
        #expect(try !JSONSchemaGrammarTests.accepts(schema, "007"))
        let exclusive = #"{"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}"#
        #expect(try (0...10).map { try JSONSchemaGrammarTests.accepts(exclusive, String($0)) } == (0...10).map { $0 > 0 && $0 < 10 })
    }

    @Test func numbersStayInside() throws {
        let schema = #"{"type": "number", "minimum": -2.5, "maximum": 3}"#
        for doc in ["3", "2.999", "0.5", "-1.25", "-2", "0", "-0.5"] {
            #expect(try JSONSchemaGrammarTests.accepts(schema, doc), "\(doc)")
        }
        for doc in ["3.5", "4", "-3", "-2.75", "1e2", "3.0001"] {
            #expect(try !JSONSchemaGrammarTests.accepts(schema, doc), "\(doc)")
        }
        #expect(try JSONSchemaGrammarTests.accepts(#"{"type": "number", "minimum": 0}"#, "123456.75"))
    }
}
