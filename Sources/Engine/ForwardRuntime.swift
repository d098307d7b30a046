import Runtime

/// What the engine needs of a runtime: a batched forward pass over block tables into a KV
/// pool the runtime owns. `Model` with its `KVPool` is the real one; tests script another.
public protocol ForwardRuntime: AnyObject {
    var nVocab: Int { get }
    /// Tokens one forward pass takes at most.
    var maxBatchTokens: Int { get }
    /// Positions a sequence may use.
    var maxContext: Int { get }
    /// Blocks in the KV pool and positions per block.
    var blockCount: Int { get }
    var blockSize: Int { get }
    func forward(_ batch: [BatchToken], blockTables: [[Int32]], onLogits: (Int, UnsafeBufferPointer<Float>) -> Void)
    /// Copies the keys and values of every position of block `source` into `destination`.
    func copyBlock(_ source: Int32, to destination: Int32)
    /// Jobs of the runtime's thread pool run by the calling thread alone, the machine being
    /// crowded (0 for a runtime without a pool).
    var jobsRunAlone: Int { get }
}

extension ForwardRuntime {
    public var jobsRunAlone: Int { 0 }
}

/// The real runtime: a model and the KV pool it reads and writes.
public final class ModelRuntime: ForwardRuntime {
    public let model: Model
    public let kv: KVPool

    public init(model: Model, kv: KVPool) {
        self.model = model
        self.kv = kv
    }

    public var nVocab: Int { model.config.nVocab }
    public var maxBatchTokens: Int { model.maxBatchTokens }
    public var maxContext: Int { model.maxContext }
    public var blockCount: Int { kv.blockCount }
    public var blockSize: Int { kv.blockSize }
    public var jobsRunAlone: Int { model.jobsRunAlone }

    public func forward(_ batch: [BatchToken], blockTables: [[Int32]], onLogits: (Int, UnsafeBufferPointer<Float>) -> Void) {
        model.forward(batch, blockTables: blockTables, kv: kv, onLogits: onLogits)
    }

    public func copyBlock(_ source: Int32, to destination: Int32) { kv.copyBlock(source, to: destination) }
}
