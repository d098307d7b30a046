import Foundation

/// The paged KV cache: one preallocated pool of fixed-size blocks, each holding the keys and
/// values of `blockSize` positions for every layer, as F16. A sequence's block table lists
/// its blocks in position order; who owns which block is the engine's business.
///
/// Layout of one block: [layer][K, V][slot][nHeadKV * headDim].
public final class KVPool: @unchecked Sendable {
    // Written only by the runtime's forward pass, on the engine thread.
    public let blockCount: Int
    public let blockSize: Int
    public let nLayer: Int
    public let rowElements: Int  // nHeadKV * headDim
    /// Elements per block.
    public let blockStride: Int
    let storage: UnsafeMutablePointer<UInt16>

    public var bytes: Int { blockCount * blockStride * 2 }

    public init(blockCount: Int, blockSize: Int, config: ModelConfig) throws(RuntimeError) {
        self.blockCount = blockCount
        self.blockSize = blockSize
        self.nLayer = config.nLayer
        self.rowElements = config.nHeadKV * max(config.headDim, config.headDimV)
        self.blockStride = nLayer * 2 * blockSize * rowElements
        let (total, overflow) = blockCount.multipliedReportingOverflow(by: blockStride)
        guard !overflow, blockCount > 0, blockSize > 0, let raw = calloc(total, 2) else {
            throw .invalidHyperparameter(key: "kv cache", value: "\(blockCount) blocks of \(blockSize) positions",
                                         expected: "a pool that fits in memory", file: "configuration")
        }
        storage = raw.bindMemory(to: UInt16.self, capacity: total)
    }

    deinit { free(storage) }

    /// Start of the K (kv = 0) or V (kv = 1) rows of `layer` in `block`.
    @inline(__always) func base(block: Int, layer: Int, kv: Int) -> UnsafeMutablePointer<UInt16> {
        storage + block * blockStride + (layer * 2 + kv) * blockSize * rowElements
    }
}
