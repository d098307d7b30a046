import ArgumentParser
import Foundation
import GGUF
import JSON
import Runtime
import Templates
import Tokenization

/// A model's chat template (or a configured override), ready to render conversations.
struct ModelChatTemplate {
    let template: ChatTemplate
    let bosToken: String
    let eosToken: String

    /// The template stored in `file` (`tokenizer.chat_template`), or `override` when given.
    /// A model without one gets an error that says how to supply it.
    init(file: GGUFFile?, override: String?) throws {
        var source = override
        if source == nil, let file {
            source = try file.string("tokenizer.chat_template")
            guard source != nil else {
                throw ValidationError("\(file.path) has no chat template (tokenizer.chat_template); it is a base model. Give a template with --template FILE")
            }
        }
        guard let source else { throw ValidationError("give --model or --template") }
        template = try ChatTemplate(source)
        if let file, let vocab = try? Vocabulary(file: file) {
            bosToken = vocab.bos.map { vocab.tokens[Int($0)] } ?? ""
            eosToken = vocab.eos.map { vocab.tokens[Int($0)] } ?? ""
        } else {
            bosToken = ""
            eosToken = ""
        }
    }
}

/// `martlet render-template (--model M | --template FILE) --context JSON`: prints the prompt
/// a conversation renders to.
struct RenderTemplate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render-template",
        abstract: "Render a chat template with a context ({\"messages\": [...], \"tools\": [...], \"add_generation_prompt\": true}).")

    @Option(help: "A model name known to scripts/fetch-model, or a path to a .gguf file.") var model: String?
    @Option(help: "A file holding a Jinja chat template (overrides the model's).") var template: String?
    @Option(help: "The context as JSON, or @FILE to read it from a file.") var context: String
    @Flag(help: "Print the parts as JSON lines with whether each may hold special tokens.") var parts = false

    func validate() throws {
        guard model != nil || template != nil else { throw ValidationError("give --model or --template (or both)") }
    }

    func run() throws {
        do {
            let file = try model.map { try GGUFFile(path: KnownModels.resolve($0)) }
            let override = try template.map { path -> String in
                guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
                return String(decoding: data, as: UTF8.self)
            }
            let chat = try ModelChatTemplate(file: file, override: override)
            let contextText: String
            if context.hasPrefix("@") {
                guard let data = FileManager.default.contents(atPath: String(context.dropFirst())) else {
                    throw ValidationError("cannot read \(context.dropFirst())")
                }
                contextText = String(decoding: data, as: UTF8.self)
            } else {
                contextText = context
            }
            let json = try JSONParser().parse(contextText)
            guard case .object(let object) = json else { throw ValidationError("the context must be a JSON object") }
            var extra: [String: Value] = [:]
            for (k, v) in object.pairs where !["messages", "tools", "add_generation_prompt"].contains(k) {
                extra[k] = Value(json: v, trusted: true)
            }
            var addGenerationPrompt = true
            if case .bool(let b)? = object["add_generation_prompt"] { addGenerationPrompt = b }
            let out = try chat.template.render(
                messages: object["messages"] ?? .array([]), tools: object["tools"], addGenerationPrompt: addGenerationPrompt,
                bosToken: chat.bosToken, eosToken: chat.eosToken, extra: extra)
            if parts {
                for p in out.parts {
                    print(PythonJSON.dumps(.object(JSONObject([("text", .string(p.string)), ("trusted", .bool(p.trusted))]))))
                }
            } else {
                print(out.string, terminator: "")
            }
        } catch let e as ValidationError {
            printError(e.message)
            throw ExitCode(1)
        } catch let e as ExitCode {
            throw e
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
