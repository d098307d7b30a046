import ArgumentParser
import Foundation
import HTTPServer
import OpenAIAPI
import Runtime
import Yams

/// One served model: what to load and its budgets (unset ones come from the server's).
struct ModelSettings {
    var model: String
    /// The name clients use (default: the known name or the file name).
    var id: String?
    /// A chat template file used instead of the model's own.
    var template: String?
    var contextSize: Int?
    var kvTokens: Int?
    var threads: Int?

    init(model: String) { self.model = model }

    static let keys = ["model", "id", "template", "ctx_size", "kv_tokens", "threads"]

    init(_ m: [String: Any], at place: String) throws {
        for key in m.keys where !Self.keys.contains(key) {
            throw ValidationError("\(place): unknown setting '\(key)'; known: \(Self.keys.joined(separator: ", "))")
        }
        guard let model = m["model"] as? String, !model.isEmpty else { throw ValidationError("\(place): 'model' (a name or a path) is required") }
        self.model = model
        func int(_ key: String) throws -> Int? {
            guard let v = m[key] else { return nil }
            guard let i = v as? Int else { throw ValidationError("\(place): \(key) must be an integer, got '\(v)'") }
            return i
        }
        id = m["id"].map { "\($0)" }
        template = m["template"].map { "\($0)" }
        contextSize = try int("ctx_size")
        kvTokens = try int("kv_tokens")
        threads = try int("threads")
    }
}

/// The server's settings: defaults, then the configuration file, then `MARTLET_<KEY>`
/// environment variables, then the command line (applied in `Serve.run`).
struct ServerSettings {
    var models = [ModelSettings(model: KnownModels.defaultName)]
    var model: String { models[0].model }
    var host = "127.0.0.1"
    var port = 8080
    var threads: Int?
    var contextSize: Int?
    var kvTokens: Int?
    var maxWaiting = 256
    var apiKeys: [String] = []
    var corsOrigins: [String] = []
    var drainTimeout = 30.0
    var insecureNoKey = false
    var tlsCert: String?
    var tlsKey: String?
    var reasoningFormat = ReasoningFormat.reasoningContent
    var http = HTTPServerConfiguration()

    static let keys = ["model", "models", "host", "port", "threads", "ctx_size", "kv_tokens", "max_waiting", "models_dir", "reasoning_format",
                       "api_key", "api_key_file", "cors_origins", "drain_timeout", "insecure_no_api_key", "tls_cert", "tls_key",
                       "max_connections", "header_timeout", "keep_alive_timeout", "max_body_bytes", "max_header_bytes",
                       "max_header_fields", "max_request_line_bytes"]

    /// Defaults, then the file, then `MARTLET_<KEY>` environment variables (the command line
    /// comes last, in `run`).
    static func resolve(configPath: String?) throws -> ServerSettings {
        var s = ServerSettings()
        if let configPath {
            guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else {
                throw ValidationError("cannot read the configuration file \(configPath)")
            }
            let document: Any?
            do { document = try Yams.load(yaml: text) } catch {
                throw ValidationError("\(configPath) is not valid YAML: \(error)")
            }
            guard let map = document as? [String: Any] else {
                if document == nil { return s }
                throw ValidationError("\(configPath): expected 'key: value' settings at the top level")
            }
            for key in map.keys.sorted() {
                let value = map[key]!
                if key == "models" {
                    guard let list = value as? [[String: Any]], !list.isEmpty else {
                        throw ValidationError("\(configPath): models must be a list of mappings, each with a 'model' key")
                    }
                    s.models = try list.enumerated().map { i, m in try ModelSettings(m, at: "\(configPath): models[\(i)]") }
                    continue
                }
                try s.set(key, Self.scalar(value), at: configPath)
            }
        }
        let env = ProcessInfo.processInfo.environment
        for key in keys where key != "models_dir" {
            if let value = env["MARTLET_" + key.uppercased()] { try s.set(key, value, at: "environment variable MARTLET_\(key.uppercased())") }
        }
        return s
    }

    static func scalar(_ v: Any) -> String {
        if let b = v as? Bool { return b ? "true" : "false" }
        if let list = v as? [Any] { return list.map { "\($0)" }.joined(separator: ",") }
        return "\(v)"
    }

    /// One setting from the file or the environment; `place` names where it came from.
    mutating func set(_ key: String, _ value: String, at place: String) throws {
        var s = self
        defer { self = s }
        let path = place
        func int() throws -> Int {
            guard let v = Int(value) else { throw ValidationError("\(path): \(key) must be an integer, got '\(value)'") }
            return v
        }
        switch key {
        case "model": s.models = [ModelSettings(model: value)]
        case "host": s.host = value
        case "port": s.port = try int()
        case "threads": s.threads = try int()
        case "ctx_size": s.contextSize = try int()
        case "kv_tokens": s.kvTokens = try int()
        case "max_waiting": s.maxWaiting = try int()
        case "reasoning_format":
            guard let f = ReasoningFormat(rawValue: value) else {
                throw ValidationError("\(path): reasoning_format must be one of \(ReasoningFormat.allCases.map(\.rawValue).joined(separator: ", ")), got '\(value)'")
            }
            s.reasoningFormat = f
        case "api_key": s.apiKeys = value.isEmpty ? [] : [value]
        case "api_key_file":
            guard let text = try? String(contentsOfFile: value, encoding: .utf8) else {
                throw ValidationError("\(path): cannot read api_key_file \(value)")
            }
            s.apiKeys = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case "tls_cert": s.tlsCert = value
        case "tls_key": s.tlsKey = value
        case "cors_origins": s.corsOrigins = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case "drain_timeout": s.drainTimeout = Double(try int())
        case "insecure_no_api_key":
            guard value == "true" || value == "false" else { throw ValidationError("\(path): insecure_no_api_key must be true or false, got '\(value)'") }
            s.insecureNoKey = value == "true"
        case "max_connections": s.http.maxConnections = try int()
        case "header_timeout": s.http.headerTimeout = Double(try int())
        case "keep_alive_timeout": s.http.keepAliveTimeout = Double(try int())
        case "max_body_bytes": s.http.limits.bodyBytes = try int()
        case "max_header_bytes": s.http.limits.headerSectionBytes = try int()
        case "max_header_fields": s.http.limits.headerFields = try int()
        case "max_request_line_bytes": s.http.limits.requestLineBytes = try int()
        case "models_dir": setenv("MARTLET_MODELS_DIR", value, 0)
        default: throw ValidationError("\(path): unknown setting '\(key)'; known: \(Self.keys.joined(separator: ", "))")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1"
    }

    func validate() throws {
        if !Self.isLoopback(host) && apiKeys.isEmpty && !insecureNoKey {
            throw ValidationError("refusing to listen on \(host) without an API key: set one (--api-key, MARTLET_API_KEY or api_key_file), or pass --insecure-no-api-key to serve the network unauthenticated")
        }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("TLS needs both tls_cert and tls_key (--tls-cert, --tls-key)") }
        guard drainTimeout >= 0 && drainTimeout <= 3600 else { throw ValidationError("drain_timeout must be between 0 and 3600 seconds, got \(drainTimeout)") }
        guard (0...65535).contains(port) else { throw ValidationError("port must be between 0 and 65535, got \(port)") }
        if let threads, !(1...1024).contains(threads) { throw ValidationError("threads must be between 1 and 1024, got \(threads)") }
        if let contextSize, !(16...1 << 20).contains(contextSize) { throw ValidationError("ctx_size must be between 16 and 1048576, got \(contextSize)") }
        let h = http
        guard (1...1 << 20).contains(h.maxConnections) else { throw ValidationError("max_connections must be between 1 and 1048576, got \(h.maxConnections)") }
        guard (1...3600).contains(h.headerTimeout) else { throw ValidationError("header_timeout must be between 1 and 3600 seconds, got \(Int(h.headerTimeout))") }
        guard (1...86400).contains(h.keepAliveTimeout) else { throw ValidationError("keep_alive_timeout must be between 1 and 86400 seconds, got \(Int(h.keepAliveTimeout))") }
        guard (1...1 << 30).contains(h.limits.bodyBytes) else { throw ValidationError("max_body_bytes must be between 1 and 1073741824, got \(h.limits.bodyBytes)") }
        guard (256...1 << 24).contains(h.limits.headerSectionBytes) else { throw ValidationError("max_header_bytes must be between 256 and 16777216, got \(h.limits.headerSectionBytes)") }
        guard (1...10_000).contains(h.limits.headerFields) else { throw ValidationError("max_header_fields must be between 1 and 10000, got \(h.limits.headerFields)") }
        guard (64...1 << 20).contains(h.limits.requestLineBytes) else { throw ValidationError("max_request_line_bytes must be between 64 and 1048576, got \(h.limits.requestLineBytes)") }
        guard (0...1 << 20).contains(maxWaiting) else { throw ValidationError("max_waiting must be between 0 and 1048576, got \(maxWaiting)") }
        if let kvTokens, !(16...1 << 24).contains(kvTokens) { throw ValidationError("kv_tokens must be between 16 and 16777216, got \(kvTokens)") }
    }
}
