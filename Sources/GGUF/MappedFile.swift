#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only bytes of a model file: a private read-only memory map of the whole file, or a
/// copy of bytes held in memory (tests, fuzzing). Immutable after init, so it is safe to
/// share across threads; the bytes stay valid for the object's lifetime.
public final class MappedFile: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    private let isMapped: Bool

    /// Maps `path` read-only. Throws `GGUFError.cannotOpen` with errno's text.
    public init(path: String) throws(GGUFError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GGUFError(file: path, problem: .cannotOpen(reason: Self.errnoText())) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw GGUFError(file: path, problem: .cannotOpen(reason: Self.errnoText())) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError(file: path, problem: .cannotOpen(reason: "not a regular file"))
        }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            isMapped = false
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw GGUFError(file: path, problem: .cannotOpen(reason: "mmap failed: " + Self.errnoText()))
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
        isMapped = true
    }

    /// Holds a copy of `data`.
    public init(copying data: some Collection<UInt8>) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(data.count, 1), alignment: 64)
        _ = buffer.initializeMemory(as: UInt8.self, from: data)
        bytes = UnsafeRawBufferPointer(start: buffer.baseAddress, count: data.count)
        isMapped = false
    }

    deinit {
        guard let base = bytes.baseAddress else { return }
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
