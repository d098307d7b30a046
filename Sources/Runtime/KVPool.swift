import Foundation

/// The paged KV cache: one preallocated pool of fixed-size blocks, each holding the keys and
/// values of `blockSize` positions for every layer, as F16. A sequence's block table lists
/// its blocks in position order; who owns which block is the engine's business.
///
/// Layout of one block: [layer][K, V][KV head][slot][headWidth], head-major: the rows one
/// attention job reads (one KV head of one sequence) lie together, blockSize · headWidth halves
/// a block (2 KiB for SmolLM2), rather than in pieces of headWidth halves a whole row of heads
/// apart (SmolLM2's attention 7–15% faster in a scratch harness).
public final class KVPool: @unchecked Sendable {
    // Written only by the runtime's forward pass, on the engine thread.
    public let blockCount: Int
    public let blockSize: Int
    public let nLayer: Int
    public let nHeadKV: Int
    /// Elements per position of one head: max(headDim, headDimV).
    public let headWidth: Int
    /// Elements per block.
    public let blockStride: Int
    let storage: UnsafeMutablePointer<UInt16>

    public var bytes: Int { blockCount * blockStride * 2 }

    public init(blockCount: Int, blockSize: Int, config: ModelConfig) throws(RuntimeError) {
        self.blockCount = blockCount
        self.blockSize = blockSize
        self.nLayer = config.nLayer
        self.nHeadKV = config.nHeadKV
        self.headWidth = max(config.headDim, config.headDimV)
        self.blockStride = nLayer * 2 * nHeadKV * blockSize * headWidth
        let (total, overflow) = blockCount.multipliedReportingOverflow(by: blockStride)
        guard !overflow, blockCount > 0, blockSize > 0, let raw = calloc(total, 2) else {
            throw .invalidHyperparameter(key: "kv cache", value: "\(blockCount) blocks of \(blockSize) positions",
                                         expected: "a pool that fits in memory", file: "configuration")
        }
        storage = raw.bindMemory(to: UInt16.self, capacity: total)
    }

    deinit { free(storage) }

    /// Copies every position of block `source` into block `destination` (another block).
    public func copyBlock(_ source: Int32, to destination: Int32) {
        precondition(source != destination && (0..<blockCount).contains(Int(source)) && (0..<blockCount).contains(Int(destination)))
        (storage + Int(destination) * blockStride).update(from: storage + Int(source) * blockStride, count: blockStride)
    }

    /// Start of the K (kv = 0) or V (kv = 1) rows of KV head `head` of `layer` in `block`; the
    /// row of slot s is headWidth · s further.
    @inline(__always) func base(block: Int, layer: Int, kv: Int, head: Int) -> UnsafeMutablePointer<UInt16> {
        storage + block * blockStride + ((layer * 2 + kv) * nHeadKV + head) * blockSize * headWidth
    }
}
