/// Why a GGUF file could not be read. Every case names what was wrong and where; the
/// description is one line a user can act on.
public struct GGUFError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file's path, or a name given by the caller for in-memory data.
    public let file: String
    public let problem: Problem

    public enum Problem: Equatable, Sendable {
        case cannotOpen(reason: String)
        /// The data ended while reading `what`, which needed `needed` bytes at `offset`.
        case truncated(what: String, offset: Int, needed: Int, fileSize: Int)
        case badMagic(found: [UInt8])
        case bigEndian(version: UInt32)
        case unsupportedVersion(UInt32)
        case tooManyKeys(count: UInt64, limit: Int)
        case tooManyTensors(count: UInt64, limit: Int)
        case stringTooLong(what: String, length: UInt64, limit: Int)
        case arrayTooLong(key: String, length: UInt64, limit: Int)
        /// An array's declared elements cannot fit in the bytes left in the file.
        case arrayPastEnd(key: String, length: UInt64, bytesLeft: Int)
        case arrayTooDeep(key: String, limit: Int)
        case unknownValueType(key: String, raw: UInt32)
        case duplicateKey(String)
        case wrongValueType(key: String, expected: String, found: String)
        case badAlignment(UInt64)
        case duplicateTensor(String)
        case tensorNameTooLong(name: String, length: Int, limit: Int)
        case badDimensionCount(tensor: String, count: UInt32, limit: Int)
        case badDimension(tensor: String, index: Int, value: UInt64)
        case elementCountOverflow(tensor: String, shape: [UInt64])
        case unknownTensorType(tensor: String, raw: UInt32)
        case rowNotBlockMultiple(tensor: String, rowLength: Int, type: String, blockSize: Int)
        case misalignedOffset(tensor: String, offset: UInt64, alignment: Int)
        case dataPastEnd(tensor: String, end: UInt64, fileSize: Int)
        case overlappingTensors(first: String, second: String)
    }

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem.message)" }
}

extension GGUFError.Problem {
    public var message: String {
        switch self {
        case .cannotOpen(let reason):
            return "cannot open: \(reason)"
        case let .truncated(what, offset, needed, fileSize):
            return "truncated: \(what) needs \(grouped(needed)) bytes at byte \(grouped(offset)), past the end of the file (\(grouped(fileSize)) bytes)"
        case .badMagic(let found):
            let hex = found.map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
            return "not a GGUF file: the first bytes are [\(hex)], expected \"GGUF\""
        case .bigEndian(let version):
            return "big-endian GGUF (version reads as \(version)) is not supported"
        case .unsupportedVersion(let v):
            return "GGUF version \(v) is not supported (versions 2 and 3 are)"
        case let .tooManyKeys(count, limit):
            return "the header declares \(count) metadata keys; at most \(grouped(limit)) are allowed"
        case let .tooManyTensors(count, limit):
            return "the header declares \(count) tensors; at most \(grouped(limit)) are allowed"
        case let .stringTooLong(what, length, limit):
            return "\(what): string of \(length) bytes; at most \(grouped(limit)) are allowed"
        case let .arrayTooLong(key, length, limit):
            return "key \(key): array of \(length) elements; at most \(grouped(limit)) are allowed"
        case let .arrayPastEnd(key, length, bytesLeft):
            return "key \(key): array of \(length) elements cannot fit in the \(grouped(bytesLeft)) bytes left in the file"
        case let .arrayTooDeep(key, limit):
            return "key \(key): arrays nested more than \(limit) deep"
        case let .unknownValueType(key, raw):
            return "key \(key): unknown value type \(raw)"
        case .duplicateKey(let key):
            return "duplicate metadata key \(key)"
        case let .wrongValueType(key, expected, found):
            return "key \(key): expected \(expected), found \(found)"
        case .badAlignment(let value):
            return "general.alignment must be a power of two between 1 and 65536, got \(value)"
        case .duplicateTensor(let name):
            return "duplicate tensor name \(name)"
        case let .tensorNameTooLong(name, length, limit):
            return "tensor name \(name.prefix(80))… is \(length) bytes; at most \(limit) are allowed"
        case let .badDimensionCount(tensor, count, limit):
            return "tensor \(tensor): \(count) dimensions; between 1 and \(limit) are allowed"
        case let .badDimension(tensor, index, value):
            return "tensor \(tensor): dimension \(index) is \(value), out of range"
        case let .elementCountOverflow(tensor, shape):
            return "tensor \(tensor): element count of shape \(shape) overflows"
        case let .unknownTensorType(tensor, raw):
            return "tensor \(tensor): unknown ggml type \(raw)"
        case let .rowNotBlockMultiple(tensor, rowLength, type, blockSize):
            return "tensor \(tensor): row length \(rowLength) is not a multiple of \(type)'s block size \(blockSize)"
        case let .misalignedOffset(tensor, offset, alignment):
            return "tensor \(tensor): data offset \(offset) is not a multiple of the alignment \(alignment)"
        case let .dataPastEnd(tensor, end, fileSize):
            return "tensor \(tensor): data ends at byte \(grouped(end)), past the end of the file (\(grouped(fileSize)) bytes)"
        case let .overlappingTensors(first, second):
            return "tensors \(first) and \(second) overlap in the data section"
        }
    }
}

/// `4294967400` → `4_294_967_400`, as Swift literals group digits.
func grouped<T: BinaryInteger>(_ value: T) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append("_") }
        out.append(c)
    }
    return value < 0 ? "-" + out : out
}
