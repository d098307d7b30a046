/// Splits a reasoning model's output into its thinking and its answer: text inside
/// `<think>…</think>` is reasoning, the rest is content. The output may open with `<think>`, or
/// start inside it when the chat template already opened it in the prompt (DeepSeek-R1's
/// does). Text that could still be the start of a tag is held back until the next text
/// settles it, so a tag split over several tokens is never emitted. Matching is on UTF-8
/// bytes, never on `String` equality.
struct ReasoningSplitter {
    enum Part: Equatable {
        case reasoning(String)
        case content(String)
    }

    private enum State { case undecided, reasoning, content }
    private var state: State
    private var held: [UInt8] = []
    /// After `</think>`: whitespace before the answer is dropped.
    private var trimLeading = false
    private static let open = Array("<think>".utf8), close = Array("</think>".utf8)

    /// `startsInside`: the prompt ended inside `<think>`.
    init(startsInside: Bool) { state = startsInside ? .reasoning : .undecided }

    mutating func feed(_ text: String) -> [Part] {
        held.append(contentsOf: text.utf8)
        var parts: [Part] = []
        while true {
            switch state {
            case .undecided:
                // Only a `<think>` at the very start (after whitespace) opens reasoning.
                let start = held.firstIndex { !Self.isSpace($0) } ?? held.count
                let rest = held[start...]
                if rest.starts(with: Self.open) {
                    held.removeFirst(start + Self.open.count)
                    state = .reasoning
                    trimLeading = true
                    continue
                }
                if rest.count < Self.open.count && Self.open.starts(with: rest) { return parts }  // maybe the tag
                state = .content
                continue
            case .reasoning:
                if trimLeading { dropLeadingSpace() }
                if let at = ByteSearch.find(Self.close, in: held) {
                    if at > 0 { parts.append(.reasoning(String(decoding: held[..<at], as: UTF8.self))) }
                    held.removeFirst(at + Self.close.count)
                    state = .content
                    trimLeading = true
                    continue
                }
                let keep = ByteSearch.partialSuffix(of: held, prefixOf: Self.close)
                if held.count > keep { parts.append(.reasoning(String(decoding: held[..<(held.count - keep)], as: UTF8.self))) }
                held.removeFirst(held.count - keep)
                return parts
            case .content:
                if trimLeading { dropLeadingSpace() }
                if !held.isEmpty {
                    trimLeading = false
                    parts.append(.content(String(decoding: held, as: UTF8.self)))
                    held.removeAll()
                }
                return parts
            }
        }
    }

    /// Whatever is still held when the output ends.
    mutating func finish() -> [Part] {
        defer { held.removeAll() }
        guard !held.isEmpty else { return [] }
        let text = String(decoding: held, as: UTF8.self)
        return [state == .reasoning ? .reasoning(text) : .content(text)]
    }

    private mutating func dropLeadingSpace() {
        let n = held.firstIndex { !Self.isSpace($0) } ?? held.count
        held.removeFirst(n)
        if !held.isEmpty { trimLeading = false }
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }


}
