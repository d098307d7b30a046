import JSON

/// Reads a request body's fields with OpenAI's checks: each error names the field, the
/// limit and the value. Fields OpenAI defines that this server does not honor are refused
/// unless they carry their neutral value; fields OpenAI does not define are ignored.
struct Fields {
    let object: JSONObject

    init(_ body: [UInt8]) throws(APIError) {
        let value: JSONValue
        do { value = try JSONParser().parse(body) } catch {
            throw .invalid(nil, "The request body is not valid JSON: \(error.description)", code: "invalid_json")
        }
        guard case .object(let o) = value else {
            throw .invalid(nil, "The request body must be a JSON object, got \(value.kind)", code: "invalid_json")
        }
        object = o
    }

    func present(_ key: String) -> JSONValue? {
        guard let v = object[key], v != .null else { return nil }
        return v
    }

    private static func show(_ v: JSONValue) -> String {
        let s = PythonJSON.dumps(v)
        return s.count > 60 ? String(s.prefix(57)) + "..." : s
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard let v = present(key) else { return nil }
        guard case .string(let s) = v else { throw .invalid(key, "'\(key)' must be a string, got \(v.kind)", code: "invalid_type") }
        return s
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = present(key) else { return nil }
        guard case .bool(let b) = v else { throw .invalid(key, "'\(key)' must be a boolean, got \(v.kind)", code: "invalid_type") }
        return b
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let v = present(key) else { return nil }
        let i: Int
        switch v {
        case .int(let x): i = x
        case .double(let d) where d.rounded() == d && abs(d) < 1e15: i = Int(d)
        default: throw .invalid(key, "'\(key)' must be an integer, got \(v.kind) (\(Self.show(v)))", code: "invalid_type")
        }
        guard range.contains(i) else { throw Self.outOfRange(key, range.lowerBound, range.upperBound, "\(i)") }
        return i
    }

    func double(_ key: String, in range: ClosedRange<Double>) throws(APIError) -> Double? {
        guard let v = present(key) else { return nil }
        let d: Double
        switch v {
        case .int(let x): d = Double(x)
        case .double(let x): d = x
        default: throw .invalid(key, "'\(key)' must be a number, got \(v.kind) (\(Self.show(v)))", code: "invalid_type")
        }
        guard range.contains(d) else {
            throw Self.outOfRange(key, range.lowerBound, range.upperBound, PythonJSON.floatRepr(d))
        }
        return d
    }

    static func outOfRange<T>(_ key: String, _ low: T, _ high: T, _ value: String) -> APIError {
        .invalid(key, "'\(key)' must be between \(low) and \(high), got \(value)", code: "invalid_value")
    }

    /// `stop`: a string or up to four strings.
    func stopStrings() throws(APIError) -> [String] {
        guard let v = present("stop") else { return [] }
        switch v {
        case .string(let s): return s.isEmpty ? [] : [s]
        case .array(let list):
            guard list.count <= 4 else { throw .invalid("stop", "'stop' may hold at most 4 sequences, got \(list.count)", code: "invalid_value") }
            var out: [String] = []
            for e in list {
                guard case .string(let s) = e else { throw .invalid("stop", "'stop' must hold strings, got \(e.kind)", code: "invalid_type") }
                if !s.isEmpty { out.append(s) }
            }
            return out
        default:
            throw .invalid("stop", "'stop' must be a string or an array of strings, got \(v.kind)", code: "invalid_type")
        }
    }

    /// `logit_bias`: token ids (as strings) to a bias between -100 and 100.
    func logitBias() throws(APIError) -> [Int32: Float] {
        guard let v = present("logit_bias") else { return [:] }
        guard case .object(let o) = v else { throw .invalid("logit_bias", "'logit_bias' must be an object, got \(v.kind)", code: "invalid_type") }
        var out: [Int32: Float] = [:]
        for (key, value) in o.pairs {
            guard let id = Int32(key), id >= 0 else {
                throw .invalid("logit_bias", "'logit_bias' keys must be token ids, got '\(key.prefix(40))'", code: "invalid_value")
            }
            let bias: Double
            switch value {
            case .int(let i): bias = Double(i)
            case .double(let d): bias = d
            default: throw .invalid("logit_bias", "'logit_bias' values must be numbers, got \(value.kind) for token \(key)", code: "invalid_type")
            }
            guard (-100...100).contains(bias) else {
                throw .invalid("logit_bias", "'logit_bias' values must be between -100 and 100, got \(PythonJSON.floatRepr(bias)) for token \(key)", code: "invalid_value")
            }
            out[id] = Float(bias)
        }
        return out
    }

    /// Refuses an OpenAI field this server does not honor, unless absent, null or `neutral`.
    func refuse(_ key: String, unless neutral: (JSONValue) -> Bool = { _ in false }, _ detail: String = "") throws(APIError) {
        guard let v = present(key), !neutral(v) else { return }
        throw .unsupported(key, detail.isEmpty ? "got \(Self.show(v))" : detail)
    }
}
