import ArgumentParser

@main
struct Martlet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "martlet",
        abstract: "An OpenAI-compatible inference server for local, quantized language models.",
        subcommands: [Inspect.self, Tokenize.self, Detokenize.self, RenderTemplate.self, Generate.self, Perplexity.self, Bench.self, BenchEngine.self, BenchKernels.self, Serve.self]
    )
}
