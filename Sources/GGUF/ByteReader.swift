/// A cursor over untrusted little-endian bytes. Every read is bounds-checked and throws
/// `GGUFError.truncated` naming what was being read.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var offset: Int = 0

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - offset }

    func fail(_ problem: GGUFError.Problem) -> GGUFError { GGUFError(file: file, problem: problem) }

    private mutating func take(_ count: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> Int {
        guard count >= 0, count <= remaining else {
            throw fail(.truncated(what: what(), offset: offset, needed: count, fileSize: bytes.count))
        }
        let start = offset
        offset += count
        return start
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
        let at = try take(MemoryLayout<T>.size, what())
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
    }

    mutating func readFloat(_ what: @autoclosure () -> String) throws(GGUFError) -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readDouble(_ what: @autoclosure () -> String) throws(GGUFError) -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> UnsafeRawBufferPointer {
        let at = try take(count, what())
        return UnsafeRawBufferPointer(rebasing: bytes[at..<(at + count)])
    }

    /// A GGUF string: a u64 length, then that many bytes of UTF-8. Invalid UTF-8 is
    /// repaired with U+FFFD rather than refused: names and text stay readable.
    mutating func readString(_ what: @autoclosure () -> String, limit: Int) throws(GGUFError) -> String {
        let length = try read(UInt64.self, "length of \(what())")
        guard length <= UInt64(limit) else { throw fail(.stringTooLong(what: what(), length: length, limit: limit)) }
        let raw = try readBytes(Int(length), what())
        return String(decoding: raw, as: UTF8.self)
    }

    /// Moves forward to the next multiple of `alignment` (a power of two).
    mutating func align(to alignment: Int, _ what: @autoclosure () -> String) throws(GGUFError) {
        let padding = (alignment - offset % alignment) % alignment
        _ = try take(padding, what())
    }
}
