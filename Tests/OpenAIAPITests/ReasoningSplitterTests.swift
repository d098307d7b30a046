import Testing
@testable import OpenAIAPI

@Suite struct ReasoningSplitterTests {
    /// Feeds `text` cut at random places; the joined parts must not depend on the cuts.
    static func split(_ text: String, startsInside: Bool, seed: UInt64) -> (reasoning: String, content: String) {
        var rng = seed
        func next() -> UInt64 { rng = rng &* 6364136223846793005 &+ 1442695040888963407; return rng >> 33 }
        var s = ReasoningSplitter(startsInside: startsInside)
        var reasoning = "", content = ""
        func take(_ parts: [ReasoningSplitter.Part]) {
            for p in parts {
                switch p {
                case .reasoning(let t): reasoning += t
                case .content(let t): content += t
                }
            }
        }
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let n = 1 + Int(next() % 4)
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: scalars[i..<min(scalars.count, i + n)])
            take(s.feed(String(piece)))
            i += n
        }
        take(s.finish())
        return (reasoning, content)
    }

    @Test(arguments: 0..<50)
    func anySplitGivesTheSameParts(seed: UInt64) {
        #expect(Self.split("<think>\nThe user greets me. 你好</think>\n\nHello! <think> stays", startsInside: false, seed: seed)
                == ("The user greets me. 你好", "Hello! <think> stays"))
        #expect(Self.split("Let me count: 1 < 2.\n</think>\n\nTwo.", startsInside: true, seed: seed) == ("Let me count: 1 < 2.\n", "Two."))
        #expect(Self.split("  plain answer </thin", startsInside: false, seed: seed) == ("", "  plain answer </thin"))
        #expect(Self.split("<thi", startsInside: false, seed: seed) == ("", "<thi"))
        #expect(Self.split("<think>never closed", startsInside: false, seed: seed) == ("never closed", ""))
    }
}
