/// GPT-2's reversible map between bytes and printable code points (`bytes_to_unicode`):
/// byte-level BPE vocabularies spell every byte as one of these characters.
enum ByteLevel {
    /// byte → code point
    static let encode: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// code point → byte, for the 256 code points of `encode`.
    static let decode: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, cp) in encode.enumerated() { map[cp] = UInt8(b) }
        return map
    }()

    /// The byte-level spelling of `bytes`.
    static func spell(_ bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(encode[Int(b)])!) }
        return String(s)
    }
}
