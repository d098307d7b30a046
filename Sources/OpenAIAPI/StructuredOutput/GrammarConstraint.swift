import Engine
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
/// Confined to the engine thread (one per choice).
final class GrammarConstraint: TokenConstraint {
    private let grammar: Grammar
    private let table: TokenTable
    private var state: GrammarState
    /// The last token checked and the state after it, so `accept` does not recompute.
    private var checked: (token: Int32, state: GrammarState?)?

    init(grammar: Grammar, root: Int, table: TokenTable) {
        self.grammar = grammar
        self.table = table
        state = GrammarState(grammar: grammar, root: root)
    }

    var isComplete: Bool { state.isComplete }

    private func after(_ token: Int32) -> GrammarState? {
        if let c = checked, c.token == token { return c.state }
        let bytes = table.pieces[Int(token)]
        let next = bytes.isEmpty ? nil : state.advanced(bytes, grammar)
        checked = (token, next)
        return next
    }

    func allows(_ token: Int32) -> Bool {
        guard token >= 0 && Int(token) < table.pieces.count else { return false }
        if table.endOfGeneration.contains(token) { return state.isComplete }
        return after(token) != nil
    }

    func allowedTokens() -> [Int32] {
        var out: [Int32] = state.isComplete ? Array(table.endOfGeneration) : []
        let first = state.nextBytes(grammar)
        for (i, bytes) in table.pieces.enumerated() where !bytes.isEmpty && first.contains(bytes[0]) {
            if state.advanced(bytes, grammar) != nil { out.append(Int32(i)) }
        }
        return out
    }

    func accept(_ token: Int32) {
        if table.endOfGeneration.contains(token) { return }
        if let next = after(token) { state = next }
        checked = nil
    }
}
