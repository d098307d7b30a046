import Engine
import JSON
import Tokenization

/// Every token's bytes and the end-of-generation tokens, for checking tokens against a
/// grammar. Built once per model; immutable.
final class TokenTable: Sendable {
    let pieces: [[UInt8]]
    let endOfGeneration: Set<Int32>

    init(tokenizer: Tokenizer) {
        pieces = (0..<tokenizer.count).map { tokenizer.pieceBytes(Int32($0)) }
        endOfGeneration = tokenizer.vocabulary.endOfGeneration
    }
}

/// A choice's output must be a document of the grammar: a token is allowed when its bytes
/// keep the output a prefix of one; end-of-generation only when the document is complete.
///
/// Reader states are numbered as they are met and their byte transitions remembered, so
/// checking a token is a few table lookups once its states have been seen; inside a JSON
/// string the state repeats, which makes even a check of the whole vocabulary cheap.
///
/// Confined to the engine thread (one per choice).
final class GrammarConstraint: TokenConstraint {
    private let grammar: Grammar
    private let table: TokenTable
    private var states: [GrammarState] = []
    private var ids: [GrammarState: Int32] = [:]
    /// [state][byte] → next state; -1 dead, -2 not computed yet.
    private var transitions: [Int32] = []
    private var current: Int32 = 0
    private let root: Int
    static let maxStates = 8192

    init(grammar: Grammar, root: Int, table: TokenTable) {
        self.grammar = grammar
        self.table = table
        self.root = root
        current = intern(GrammarState(grammar: grammar, root: root))
    }

    private func intern(_ s: GrammarState) -> Int32 {
        if let id = ids[s] { return id }
        let id = Int32(states.count)
        states.append(s)
        ids[s] = id
        transitions.append(contentsOf: repeatElement(-2, count: 256))
        return id
    }

    private func step(_ from: Int32, _ byte: UInt8) -> Int32 {
        let slot = Int(from) * 256 + Int(byte)
        let known = transitions[slot]
        if known != -2 { return known }
        let next = states[Int(from)].advanced(byte, grammar).map { intern($0) } ?? -1
        transitions[slot] = next
        return next
    }

    /// The state after `token`, or -1.
    private func after(_ token: Int32) -> Int32 {
        let bytes = table.pieces[Int(token)]
        if bytes.isEmpty { return -1 }
        var s = current
        for b in bytes {
            s = step(s, b)
            if s < 0 { return -1 }
        }
        return s
    }

    var isComplete: Bool { states[Int(current)].isComplete }

    func allows(_ token: Int32) -> Bool {
        guard token >= 0 && Int(token) < table.pieces.count else { return false }
        if table.endOfGeneration.contains(token) { return isComplete }
        return after(token) >= 0
    }

    func allowedTokens() -> [Int32] {
        var out: [Int32] = isComplete ? Array(table.endOfGeneration) : []
        for i in 0..<table.pieces.count where !table.endOfGeneration.contains(Int32(i)) && after(Int32(i)) >= 0 { out.append(Int32(i)) }
        return out
    }

    func accept(_ token: Int32) {
        if table.endOfGeneration.contains(token) { return }
        let next = after(token)
        if next >= 0 { current = next }
        if states.count > Self.maxStates {
            // A very long document: forget every state but the current one (between tokens,
            // so no check is holding a state number).
            let keep = states[Int(current)]
            states = []
            ids = [:]
            transitions = []
            current = intern(keep)
        }
    }
}

/// Structured output for callers outside the API (benchmarks): a constraint factory for a
/// JSON schema (nil: any JSON object).
public enum StructuredOutput {
    public static func constraint(schema: JSONValue?, tokenizer: Tokenizer) throws -> @Sendable () -> TokenConstraint {
        let g = try schema.map { s throws in try JSONSchemaGrammar(schema: s) } ?? JSONSchemaGrammar.anyObject()
        let table = TokenTable(tokenizer: tokenizer)
        let grammar = g.grammar, root = g.root
        return { GrammarConstraint(grammar: grammar, root: root, table: table) }
    }
}
