import ArgumentParser
import Foundation
import GGUF
import Runtime

/// `martlet inspect MODEL.gguf [--json]`: describes a model file, or says exactly why it
/// cannot be read.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a GGUF model file.")

    @Argument(help: "Path to a .gguf file.")
    var model: String

    @Flag(help: "Print the description as JSON.")
    var json = false

    func run() throws {
        let file: GGUFFile
        do {
            file = try GGUFFile(path: model)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        let report = ModelReport(file: file)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
}
