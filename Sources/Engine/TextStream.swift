import Tokenization

/// Turns one choice's generated tokens into the text its client sees, and finds its stop
/// strings. Text that could still be the beginning of a stop string is held back until the
/// next tokens settle it, so a stop string split over several tokens is never emitted.
/// Matching is on UTF-8 bytes (not `String` equality, which is canonical equivalence).
///
/// Confined to the engine thread.
struct TextStream {
    private var detokenizer: StreamingDetokenizer
    private let stops: [[UInt8]]
    private var held: [UInt8] = []
    /// Control tokens whose text the client must see (tool-call and reasoning markers).
    private let visible: Set<Int32>

    init(tokenizer: Tokenizer, stopStrings: [String], visible: Set<Int32> = []) {
        self.visible = visible
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        stops = stopStrings.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    enum Step: Equatable {
        /// Text that is now final.
        case text(String)
        /// A stop string was found: the text before it, which ends the choice.
        case stopped(String)
    }

    mutating func append(_ token: Int32) -> Step {
        let piece = (try? detokenizer.append(token, renderSpecial: visible.contains(token))) ?? ""
        if stops.isEmpty { return .text(piece) }
        held.append(contentsOf: piece.utf8)
        if let at = earliestMatch() {
            let text = String(decoding: held[..<at], as: UTF8.self)
            held.removeAll()
            return .stopped(text)
        }
        let keep = longestSuffixThatStartsAStop()
        let text = String(decoding: held[..<(held.count - keep)], as: UTF8.self)
        held.removeFirst(held.count - keep)
        return .text(text)
    }

    /// Whatever is still held when the choice ends another way.
    mutating func finish() -> String {
        let rest = detokenizer.finish()
        if stops.isEmpty { return rest }
        held.append(contentsOf: rest.utf8)
        defer { held.removeAll() }
        if let at = earliestMatch() { return String(decoding: held[..<at], as: UTF8.self) }
        return String(decoding: held, as: UTF8.self)
    }

    private func earliestMatch() -> Int? {
        var best: Int?
        for s in stops where s.count <= held.count {
            var i = 0
            while i + s.count <= held.count, i < (best ?? Int.max) {
                if held[i] == s[0] && held[i..<(i + s.count)].elementsEqual(s) { best = i; break }
                i += 1
            }
        }
        return best
    }

    private func longestSuffixThatStartsAStop() -> Int {
        var keep = 0
        for s in stops {
            var k = min(s.count - 1, held.count)
            while k > keep {
                if held[(held.count - k)...].elementsEqual(s[..<k]) { keep = k; break }
                k -= 1
            }
        }
        return keep
    }
}
