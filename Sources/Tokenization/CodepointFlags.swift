/// Unicode classes the pre-tokenizers ask about, one byte per code point: the classes of
/// llama.cpp's `unicode_cpt_flags` (`\p{L}`, `\p{N}`, `\p{P}`, `\p{S}`, `\p{M}`, `\s`), from
/// the Unicode data that ships with Swift.
public struct CodepointFlags: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let letter = CodepointFlags(rawValue: 1 << 0)
    public static let number = CodepointFlags(rawValue: 1 << 1)
    public static let whitespace = CodepointFlags(rawValue: 1 << 2)
    public static let punctuation = CodepointFlags(rawValue: 1 << 3)
    public static let symbol = CodepointFlags(rawValue: 1 << 4)
    public static let mark = CodepointFlags(rawValue: 1 << 5)
    /// Assigned: every category but unassigned (llama.cpp's flags are zero only there).
    public static let assigned = CodepointFlags(rawValue: 1 << 6)

    /// The flags of `cp`, from a table built once for the Basic Multilingual Plane.
    @inline(__always)
    public static func of(_ cp: UInt32) -> CodepointFlags {
        cp < 0x10000 ? CodepointFlags(rawValue: bmp[Int(cp)]) : compute(cp)
    }

    private static let bmp: [UInt8] = (0..<0x10000).map { compute(UInt32($0)).rawValue }

    static func compute(_ cp: UInt32) -> CodepointFlags {
        guard let scalar = Unicode.Scalar(cp) else { return [] }  // surrogates
        let p = scalar.properties
        var f: CodepointFlags = []
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: f.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber: f.insert(.number)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: f.insert(.punctuation)
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: f.insert(.symbol)
        case .nonspacingMark, .spacingMark, .enclosingMark: f.insert(.mark)
        case .unassigned: return []
        default: break
        }
        if p.isWhitespace { f.insert(.whitespace) }
        f.insert(.assigned)
        return f
    }

    @inline(__always) public var isLetter: Bool { contains(.letter) }
    @inline(__always) public var isNumber: Bool { contains(.number) }
    @inline(__always) public var isWhitespace: Bool { contains(.whitespace) }
}
