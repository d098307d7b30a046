/// Owns the KV pool's blocks: reference counts, the free list, and the prefix cache.
///
/// A full block that has been computed can be registered under a hash of its parent block
/// and its token ids. A later sequence with the same prefix looks blocks up by that hash;
/// a hit is only served after comparing the token ids and the parent block (by id and by the
/// generation it had when the child was registered), so a hash collision can never serve
/// another prompt's keys and values. Where no full block matches, the cached children of the
/// last matching block are searched for the longest run of leading tokens in common: the
/// caller copies such a block and keeps the positions that match.
///
/// Free blocks sit in one list in eviction order: blocks without cached content at the head
/// (taken first), cached ones appended as they are released, so the least recently used
/// cached block is evicted first.
///
/// Confined to the engine thread.
public final class BlockManager {
    public let blockCount: Int
    public let blockSize: Int

    private var refCount: [Int32]
    /// Bumped each time a block's content is replaced, so stale parent links are detected.
    private var generation: [UInt32]
    private var cachedKey: [CacheKey?]
    private var cache: [UInt64: Int32] = [:]
    /// The cached blocks registered after each parent block (-1: first blocks).
    private var children: [Int32: [Int32]] = [:]
    // The free list: a doubly linked list over block ids (-1 ends it).
    private var prev: [Int32], next: [Int32]
    private var isFree: [Bool]
    private var head: Int32 = -1, tail: Int32 = -1
    public private(set) var freeCount: Int
    public private(set) var cacheHits = 0
    public private(set) var evictions = 0

    struct CacheKey {
        var hash: UInt64
        var tokens: [Int32]
        var parent: Int32
        var parentGeneration: UInt32
    }

    public init(blockCount: Int, blockSize: Int) {
        precondition(blockCount > 0 && blockSize > 0)
        self.blockCount = blockCount
        self.blockSize = blockSize
        refCount = Array(repeating: 0, count: blockCount)
        generation = Array(repeating: 0, count: blockCount)
        cachedKey = Array(repeating: nil, count: blockCount)
        prev = Array(repeating: -1, count: blockCount)
        next = Array(repeating: -1, count: blockCount)
        isFree = Array(repeating: false, count: blockCount)
        freeCount = 0
        for b in 0..<blockCount { pushBack(Int32(b)) }
    }

    // MARK: - Counts

    /// Blocks held by at least one sequence.
    public var ownedCount: Int { blockCount - freeCount }
    /// Free blocks whose content is cached (evictable).
    public private(set) var cachedFreeCount = 0
    /// Free blocks with nothing cached in them.
    public var emptyFreeCount: Int { freeCount - cachedFreeCount }
    /// All blocks whose content is in the prefix cache, owned or free.
    public var cachedCount: Int { cache.count }

    public func references(_ block: Int32) -> Int { Int(refCount[Int(block)]) }

    // MARK: - Allocation

    /// A block for new content, evicting the least recently used cached block if no empty
    /// one is left; nil when every block is owned.
    public func allocate() -> Int32? {
        guard head >= 0 else { return nil }
        let b = head
        unlink(b)
        if let key = cachedKey[Int(b)] {
            cache[key.hash] = nil
            children[key.parent]?.removeAll { $0 == b }
            if children[key.parent]?.isEmpty == true { children[key.parent] = nil }
            cachedKey[Int(b)] = nil
            cachedFreeCount -= 1
            evictions += 1
        }
        generation[Int(b)] &+= 1
        refCount[Int(b)] = 1
        return b
    }

    /// Drops one reference to each block; blocks nobody holds return to the free list, the
    /// last ones first so that a prefix outlives its tail in the cache.
    public func release(_ blocks: [Int32]) {
        for b in blocks.reversed() {
            let i = Int(b)
            precondition(refCount[i] > 0, "block \(b) released more often than taken")
            refCount[i] -= 1
            if refCount[i] == 0 {
                if cachedKey[i] != nil {
                    pushBack(b)
                    cachedFreeCount += 1
                } else {
                    pushFront(b)
                }
            }
        }
    }

    // MARK: - Prefix cache

    /// The hash of a full block: its parent's hash (0 for the first block) and its token ids.
    public static func hash(parent: UInt64, tokens: ArraySlice<Int32>) -> UInt64 {
        var h: UInt64 = parent ^ 0x9E37_79B9_7F4A_7C15
        for t in tokens {
            h = (h ^ UInt64(UInt32(bitPattern: t))) &* 0x0000_0100_0000_01B3
            h ^= h >> 29
        }
        return h &* 0xBF58_476D_1CE4_E5B9 ^ UInt64(tokens.count)
    }

    /// Takes a reference to the cached block holding `tokens` after `parent` (-1 for the
    /// first block), or returns nil.
    public func lookup(hash: UInt64, tokens: ArraySlice<Int32>, parent: Int32) -> Int32? {
        guard let b = cache[hash], let key = cachedKey[Int(b)] else { return nil }
        guard key.parent == parent, key.tokens.elementsEqual(tokens),
              parent < 0 || key.parentGeneration == generation[Int(parent)] else { return nil }
        if refCount[Int(b)] == 0 {
            unlink(b)
            cachedFreeCount -= 1
        }
        refCount[Int(b)] += 1
        cacheHits += 1
        return b
    }

    /// Records that owned block `block` holds `tokens` after `parent`. If the hash is taken
    /// (another sequence computed the same prefix), the block stays uncached.
    public func register(_ block: Int32, hash: UInt64, tokens: ArraySlice<Int32>, parent: Int32) {
        precondition(refCount[Int(block)] > 0 && tokens.count == blockSize)
        guard cache[hash] == nil, cachedKey[Int(block)] == nil else { return }
        cache[hash] = block
        cachedKey[Int(block)] = CacheKey(hash: hash, tokens: Array(tokens), parent: parent,
                                         parentGeneration: parent < 0 ? 0 : generation[Int(parent)])
        children[parent, default: []].append(block)
    }

    /// The cached block after `parent` (-1 for the first block) that begins with the most of
    /// `tokens`, and how many of them; nil when none begins with the first. Takes no reference:
    /// the caller copies what it needs before the pool changes.
    public func partialMatch(parent: Int32, tokens: ArraySlice<Int32>) -> (block: Int32, count: Int)? {
        var best: (block: Int32, count: Int)?
        for b in children[parent] ?? [] {
            guard let key = cachedKey[Int(b)], parent < 0 || key.parentGeneration == generation[Int(parent)] else { continue }
            let count = zip(key.tokens, tokens).prefix { $0 == $1 }.count
            if count > (best?.count ?? 0) { best = (b, count) }
        }
        return best
    }

    /// Whether `block` currently holds registered content.
    public func isCached(_ block: Int32) -> Bool { cachedKey[Int(block)] != nil }

    // MARK: - Free list

    private func pushBack(_ b: Int32) {
        prev[Int(b)] = tail
        next[Int(b)] = -1
        if tail >= 0 { next[Int(tail)] = b } else { head = b }
        tail = b
        isFree[Int(b)] = true
        freeCount += 1
    }

    private func pushFront(_ b: Int32) {
        next[Int(b)] = head
        prev[Int(b)] = -1
        if head >= 0 { prev[Int(head)] = b } else { tail = b }
        head = b
        isFree[Int(b)] = true
        freeCount += 1
    }

    private func unlink(_ b: Int32) {
        precondition(isFree[Int(b)])
        let p = prev[Int(b)], n = next[Int(b)]
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { prev[Int(n)] = p } else { tail = p }
        isFree[Int(b)] = false
        freeCount -= 1
    }

    /// Checks the bookkeeping against itself; for tests. Returns a description of the first
    /// inconsistency found.
    public func inconsistency() -> String? {
        var walked = 0, cachedFree = 0
        var b = head
        while b >= 0 {
            walked += 1
            if walked > blockCount { return "free list has a cycle" }
            if refCount[Int(b)] != 0 { return "free block \(b) has references" }
            if cachedKey[Int(b)] != nil { cachedFree += 1 }
            b = next[Int(b)]
        }
        if walked != freeCount { return "free list holds \(walked) blocks, count says \(freeCount)" }
        if cachedFree != cachedFreeCount { return "cached free blocks \(cachedFree), count says \(cachedFreeCount)" }
        let owned = refCount.filter { $0 > 0 }.count
        if owned + freeCount != blockCount { return "owned \(owned) + free \(freeCount) != \(blockCount)" }
        for (h, blk) in cache where cachedKey[Int(blk)]?.hash != h { return "cache entry \(h) points at block \(blk) with another key" }
        let listed = children.values.reduce(0) { $0 + $1.count }
        if listed != cache.count { return "\(listed) blocks listed as children, \(cache.count) cached" }
        for (parent, list) in children { for b in list where cachedKey[Int(b)]?.parent != parent { return "block \(b) listed under parent \(parent) it was not registered after" } }
        return nil
    }
}
