import ArgumentParser
import Dispatch
import Engine
import Foundation
import GGUF
import HTTPServer
import OpenAIAPI
import Runtime
import Templates
import Tokenization
import Yams

/// `martlet serve`: the OpenAI-compatible server. It listens at once and loads the model in
/// the background (the API answers 503 until it is ready).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve a model over the OpenAI API.")

    @Option(help: "A model name known to scripts/fetch-model, or a path to a .gguf file.") var model: String?
    @Option(help: "Address to listen on (127.0.0.1: this machine only; 0.0.0.0 or :: for the network).") var host: String?
    @Option(help: "Port (0 picks a free one).") var port: Int?
    @Option(help: "A configuration file (see config/martlet.yaml).") var config: String?
    @Option(help: "Worker threads (default: one per core).") var threads: Int?
    @Option(name: .customLong("ctx-size"), help: "Context length per sequence (default: the model's, at most 8192).") var ctxSize: Int?
    @Option(name: .customLong("kv-tokens"), help: "Positions in the shared KV cache (default: 4 × the context length).") var kvTokens: Int?
    @Option(name: .customLong("max-waiting"), help: "Requests that may wait for a place in the batch before new ones get 429 (default 256).") var maxWaiting: Int?
    @Option(name: .customLong("api-key"), help: "Require 'Authorization: Bearer KEY' (also MARTLET_API_KEY, or api_key_file in the configuration).") var apiKey: String?
    @Option(name: .customLong("cors-origin"), help: "Allow browser requests from this origin (repeatable; * for any).") var corsOrigins: [String] = []
    @Option(name: .customLong("drain-timeout"), help: "Seconds streams in flight may run on after SIGTERM (default 30).") var drainTimeout: Double?
    @Option(name: .customLong("tls-cert"), help: "Serve HTTPS with this PEM certificate (chain) file; needs --tls-key.") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "The PEM private key for --tls-cert.") var tlsKey: String?
    @Flag(name: .customLong("insecure-no-api-key"), help: "Listen on a network address without an API key (anyone who can reach it can use it).") var insecureNoKey = false

    func run() throws {
        var settings = try ServerSettings.resolve(configPath: config)
        if let model { settings.models = [ModelSettings(model: model)] }
        if let host { settings.host = host }
        if let port { settings.port = port }
        if let threads { settings.threads = threads }
        if let ctxSize { settings.contextSize = ctxSize }
        if let kvTokens { settings.kvTokens = kvTokens }
        if let maxWaiting { settings.maxWaiting = maxWaiting }
        if let apiKey { settings.apiKeys = [apiKey] }
        if !corsOrigins.isEmpty { settings.corsOrigins = corsOrigins }
        if let drainTimeout { settings.drainTimeout = drainTimeout }
        if insecureNoKey { settings.insecureNoKey = true }
        if let tlsCert { settings.tlsCert = tlsCert }
        if let tlsKey { settings.tlsKey = tlsKey }
        try settings.validate()
        let fixed = settings

        var http = settings.http
        http.host = settings.host
        http.port = settings.port
        if let cert = settings.tlsCert, let key = settings.tlsKey {
            do { http.tls = try TLSContext(certificateFile: cert, keyFile: key) } catch {
                printError(error.description)
                throw ExitCode(1)
            }
        }
        let scheme = http.tls == nil ? "http" : "https"
        // Every model's file and budgets, checked against the memory before anything starts.
        let plans: [ModelPlan]
        do {
            plans = try Self.plan(settings)
            try Self.checkMemory(plans)
        } catch let e as ValidationError {
            printError("martlet: \(e.message)")
            throw ExitCode(1)
        } catch {
            printError("martlet: \(error)")
            throw ExitCode(1)
        }
        let api = OpenAIServer(expectedModels: plans.count)
        var policy = AccessPolicy()
        policy.apiKeys = settings.apiKeys
        policy.corsOrigins = settings.corsOrigins
        policy.loopbackOnly = ServerSettings.isLoopback(settings.host)
        let gate = Gatekeeper(inner: api.router, policy: policy, metrics: api.metrics) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        let server = HTTPServer(configuration: http, handler: gate)
        do { try server.start() } catch {
            printError("cannot listen on \(settings.host):\(settings.port): \(error.description)")
            throw ExitCode(1)
        }
        let shownHost = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        say("martlet: listening on \(scheme)://\(shownHost):\(server.port)/v1 (loading \(plans.map(\.settings.model).joined(separator: ", ")))")

        let loader = Thread {
            for plan in plans {
                do {
                    let service = try Self.load(plan, fixed)
                    api.ready(service)
                    say("martlet: ready: model '\(service.id)', context \(service.maxContext) tokens; try\n  curl \(scheme)://\(shownHost):\(server.port)/v1/chat/completions -H 'Content-Type: application/json' -d '{\"model\": \"\(service.id)\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'")
                } catch {
                    printError("martlet: cannot load \(plan.settings.model): \(error)")
                    Foundation.exit(1)
                }
            }
        }
        loader.start()

        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .main)
            source.setEventHandler {
                // Stop taking work, let streams in flight finish up to the drain timeout, end
                // the rest with an error event, then exit.
                say("martlet: shutting down (draining for up to \(Int(fixed.drainTimeout)) s)")
                api.startDraining()
                server.shutdown(timeout: fixed.drainTimeout)
                for service in api.loadedServices { service.engine.shutdown() }
                usleep(200_000)  // the error events reach their connections
                say("martlet: stopped")
                Foundation.exit(0)
            }
            source.resume()
            Self.signalSources.append(source)
        }
        dispatchMain()
    }

    nonisolated(unsafe) static var signalSources: [DispatchSourceSignal] = []

    /// A model to load: its file, and the memory it will take.
    struct ModelPlan {
        let settings: ModelSettings
        let path: String
        let config: ModelConfig
        let context: Int
        let kvTokens: Int
        let weightBytes: Int
        var kvBytes: Int { kvTokens * config.nLayer * 2 * config.nHeadKV * max(config.headDim, config.headDimV) * 2 }
    }

    static func plan(_ s: ServerSettings) throws -> [ModelPlan] {
        var plans: [ModelPlan] = []
        for m in s.models {
            var path = KnownModels.resolve(m.model)
            // A bare file name may be in the models folder (as in the container image).
            let inModels = KnownModels.directory.appendingPathComponent(m.model).path
            if !FileManager.default.fileExists(atPath: path) && FileManager.default.fileExists(atPath: inModels) { path = inModels }
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("model \(m.model): no file at \(path)\(KnownModels.files[m.model] != nil ? "; run scripts/fetch-model \(m.model)" : "")")
            }
            let file = try GGUFFile(path: path)
            let config = try ModelConfig(file: file)
            let context = min(m.contextSize ?? s.contextSize ?? min(config.nCtxTrain, 8192), config.nCtxTrain)
            plans.append(ModelPlan(settings: m, path: path, config: config, context: context,
                                   kvTokens: m.kvTokens ?? s.kvTokens ?? 4 * context, weightBytes: file.fileSize))
        }
        let ids = plans.map { p in
            p.settings.id ?? KnownModels.files.first { $0.value == URL(fileURLWithPath: p.path).lastPathComponent }?.key ?? p.path
        }
        if let dup = ids.first(where: { id in ids.filter { $0 == id }.count > 1 }) {
            throw ValidationError("two configured models are both called '\(dup)'; give one an 'id'")
        }
        return plans
    }

    /// Refuses budgets that do not fit in the memory available now, saying what each needs.
    static func checkMemory(_ plans: [ModelPlan]) throws {
        let needed = plans.reduce(0) { $0 + $1.weightBytes + $1.kvBytes }
        guard let available = availableMemory(), needed > available else { return }
        let mib = { (b: Int) in "\(b >> 20) MiB" }
        let lines = plans.map { "\($0.settings.model): weights \(mib($0.weightBytes)) + KV cache \(mib($0.kvBytes)) (\($0.kvTokens) positions)" }
        throw ValidationError("the configured models need \(mib(needed)), but \(mib(available)) of memory is available: "
                              + lines.joined(separator: "; ") + ". Lower kv_tokens or ctx_size, or serve fewer models.")
    }

    /// MemAvailable from /proc/meminfo, in bytes (nil where there is none).
    static func availableMemory() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }

    static func load(_ plan: ModelPlan, _ s: ServerSettings) throws -> ModelService {
        let m = plan.settings
        let path = plan.path
        let file = try GGUFFile(path: path)
        let tokenizer = try Tokenizer(file: file)
        let weights = try ModelWeights(file: file)
        let source = try m.template.map { t in
            guard let text = try? String(contentsOfFile: t, encoding: .utf8) else { throw ValidationError("cannot read the chat template \(t)") }
            return text
        } ?? file.string("tokenizer.chat_template")
        let template = try source.map { try ChatTemplate($0) }
        let pool = ThreadPool(threads: m.threads ?? s.threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let model = Model(weights: weights, maxBatchTokens: 512, maxContext: plan.context, pool: pool)
        let blockSize = 16
        let kv = try KVPool(blockCount: (plan.kvTokens + blockSize - 1) / blockSize, blockSize: blockSize, config: weights.config)
        var ec = EngineConfiguration()
        ec.maxWaitingRequests = s.maxWaiting
        let engine = Engine(runtime: ModelRuntime(model: model, kv: kv), tokenizer: tokenizer, configuration: ec)
        let fileName = URL(fileURLWithPath: path).lastPathComponent
        let stem = String(fileName.dropLast(fileName.hasSuffix(".gguf") ? 5 : 0))
        // A known model is called by its known name, however it was given.
        let known = KnownModels.files.first { $0.value == fileName }?.key
        let id = m.id ?? known ?? stem
        var h: UInt64 = 1469598103934665603
        for b in Array("\(fileName):\(file.fileSize)".utf8) { h = (h ^ UInt64(b)) &* 1099511628211 }
        return ModelService(id: id, aliases: m.id == nil ? [fileName, stem, path, m.model] : [], engine: engine, tokenizer: tokenizer,
                            template: template, fingerprint: "fp_" + String(h >> 24, radix: 16), reasoningFormat: s.reasoningFormat)
    }
}

/// The server's settings: defaults, then the configuration file, then the command line.
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

/// A line to standard output, written at once (stdout may be a pipe to a log).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
