/// Searches in UTF-8 bytes for the streaming parsers (tags, tool calls), which must never
/// compare `String`s: Swift's String equality is canonical equivalence, and "\r\n" is one
/// Character.
enum ByteSearch {
    /// The first index of `needle` in `hay`.
    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }

    /// The length of the longest suffix of `hay` that is a proper prefix of `tag`: text that
    /// must be held back because the next text could complete the tag.
    static func partialSuffix(of hay: [UInt8], prefixOf tag: [UInt8]) -> Int {
        var k = min(tag.count - 1, hay.count)
        while k > 0 {
            if hay[(hay.count - k)...].elementsEqual(tag[..<k]) { return k }
            k -= 1
        }
        return 0
    }
}
