import CKernels
import Testing

@Suite struct MemoryReadTests {
    /// The bandwidth probe reads every byte: its sum equals a plain sum of the same 64-bit
    /// words, on the vector path (aligned) and the scalar one (unaligned), with a ragged tail.
    @Test func readSumSeesEveryByte() {
        let count = 4096 + 77
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: count + 64, alignment: 64)
        defer { buffer.deallocate() }
        for i in 0..<(count + 64) { buffer.storeBytes(of: UInt8(truncatingIfNeeded: i &* 131 &+ 7), toByteOffset: i, as: UInt8.self) }
        for offset in [0, 3] {
            let p = buffer + offset
            var expected: UInt64 = 0
            var i = 0
            while i + 8 <= count {
                expected &+= p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < count {
                expected &+= UInt64(p.load(fromByteOffset: i, as: UInt8.self))
                i += 1
            }
            #expect(ck_read_sum(p, count) == expected, "offset \(offset)")
        }
    }
}
