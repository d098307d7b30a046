import ArgumentParser
import Foundation
import GGUF
import Runtime
import Tokenization

/// Options shared by commands that open a model.
struct ModelOption: ParsableArguments {
    @Option(name: .long, help: "A model name known to scripts/fetch-model, or a path to a .gguf file.")
    var model: String = KnownModels.defaultName

    func openFile() throws -> GGUFFile {
        let path = KnownModels.resolve(model)
        do {
            return try GGUFFile(path: path)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    func tokenizer() throws -> Tokenizer {
        let file = try openFile()
        do {
            return try Tokenizer(file: file)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

/// `martlet tokenize --model M [--bos] [--special] (TEXT | --file F)`: prints ids as JSON.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the token ids of a text as a JSON array.")

    @OptionGroup var model: ModelOption
    @Flag(help: "Add BOS (and EOS) as the model says.") var bos = false
    @Flag(help: "Parse special-token text (such as <|im_end|>) into special tokens.") var special = false
    @Option(help: "Read the text from a file.") var file: String?
    @Flag(help: "Print the token count and the time spent tokenizing (not loading) to stderr.") var stats = false
    @Argument(help: "The text to tokenize.") var text: String?

    func validate() throws {
        guard (text == nil) != (file == nil) else { throw ValidationError("give either TEXT or --file, not both or neither") }
    }

    func run() throws {
        let t = try model.tokenizer()
        let input: String
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                printError("cannot read \(file)")
                throw ExitCode(1)
            }
            input = String(decoding: data, as: UTF8.self)
        } else {
            input = text ?? ""
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let ids = t.encode(input, addSpecial: bos, parseSpecial: special)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print("[" + ids.map(String.init).joined(separator: ", ") + "]")
        if stats {
            FileHandle.standardError.write(Data("tokens: \(ids.count) bytes: \(input.utf8.count) seconds: \(String(format: "%.4f", seconds))\n".utf8))
        }
    }
}

/// `martlet detokenize --model M IDS…`: prints the text of token ids.
struct Detokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the text of token ids.")

    @OptionGroup var model: ModelOption
    @Flag(help: "Render special tokens' text.") var special = false
    @Argument(help: "Token ids (separated by spaces or commas; a JSON array works too).") var ids: [String]

    func run() throws {
        let t = try model.tokenizer()
        var parsed: [Int32] = []
        for part in ids.joined(separator: " ").split(whereSeparator: { " ,[]\n\t".contains($0) }) {
            guard let id = Int32(part), part.allSatisfy(\.isNumber) else {
                printError("not a token id: \(part)")
                throw ExitCode(1)
            }
            parsed.append(id)
        }
        do {
            print(try t.decode(parsed, special: special))
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}
