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
        let accessLog = LineWriter(FileHandle.standardError)
        Self.accessLog = accessLog
        let gate = Gatekeeper(inner: api.router, policy: policy, metrics: api.metrics) { line in accessLog.write(line) }
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
                Self.accessLog?.flush()
                say("martlet: stopped")
                Foundation.exit(0)
            }
            source.resume()
            Self.signalSources.append(source)
        }
        dispatchMain()
    }

    nonisolated(unsafe) static var signalSources: [DispatchSourceSignal] = []
    nonisolated(unsafe) static var accessLog: LineWriter?

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
            // The file, and the copies of its matrices repacked into tiles at load.
            let weightBytes = file.fileSize + Model.packedBytes(try ModelWeights(file: file))
            plans.append(ModelPlan(settings: m, path: path, config: config, context: context,
                                   kvTokens: m.kvTokens ?? s.kvTokens ?? 4 * context, weightBytes: weightBytes))
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

/// A line to standard output, written at once (stdout may be a pipe to a log).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
