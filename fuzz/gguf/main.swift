// libFuzzer entry for the GGUF reader: any bytes must parse or give a GGUFError, never crash,
// hang or read out of bounds (built with -sanitize=fuzzer,address by scripts/fuzz-gguf).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var limits = GGUFLimits()
    limits.maxArrayLength = 1 << 16  // keep each run small; the checks are the same
    if let file = try? GGUFFile(bytes: bytes, name: "fuzz.gguf", limits: limits) {
        // Touch every tensor's data and every typed accessor.
        for t in file.tensors { _ = file.data(of: t).reduce(0, &+) }
        for key in file.metadataKeys {
            _ = try? file.string(key)
            _ = try? file.ints(key)
            _ = try? file.floats(key)
        }
    }
    return 0
}
