/// Byte-level BPE merges by rank (llama.cpp `llm_tokenizer_bpe_session`), on token ids: a
/// piece starts as one token per byte, and the adjacent pair with the lowest merge rank is
/// merged (ties: leftmost) until no pair has a rank. A heap keeps this O(n log n).
struct BPEMerges: Sendable {
    /// (left id << 32 | right id) → (rank, merged id)
    let ranks: [UInt64: (rank: Int32, merged: Int32)]
    /// The token of each byte's byte-level spelling; -1 when the vocabulary lacks it.
    let byteTokens: [Int32]

    init(vocabulary v: Vocabulary) throws(TokenizerError) {
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            byteTokens[b] = v.id(of: String(Unicode.Scalar(ByteLevel.encode[b])!)) ?? -1
        }
        var ranks: [UInt64: (rank: Int32, merged: Int32)] = [:]
        ranks.reserveCapacity(v.merges.count)
        for (rank, merge) in v.merges.enumerated() {
            // "left right": the halves never contain a space (bytes are spelled byte-level).
            guard let space = merge.utf8.firstIndex(of: 0x20) else {
                throw .inconsistentVocabulary("merge \(rank) (\(merge.debugDescription)) has no space", file: "tokenizer.ggml.merges")
            }
            let left = Array(merge.utf8[..<space])
            let right = Array(merge.utf8[merge.utf8.index(after: space)...])
            // A merge naming tokens the vocabulary lacks can never apply; skip it.
            guard let l = v.tokenToID[left], let r = v.tokenToID[right], let m = v.tokenToID[left + right] else { continue }
            let key = UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))
            if ranks[key] == nil { ranks[key] = (Int32(rank), m) }
        }
        self.ranks = ranks
        self.byteTokens = byteTokens
    }

    @inline(__always) func lookup(_ l: Int32, _ r: Int32) -> (rank: Int32, merged: Int32)? {
        ranks[UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))]
    }

    /// Appends the tokens of one pre-tokenized piece, given as UTF-8 bytes.
    func encode(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        let n = bytes.count
        if n == 0 { return }
        if n == 1 {
            let t = byteTokens[Int(bytes[0])]
            if t >= 0 { out.append(t) }
            return
        }
        var ids = bytes.map { byteTokens[Int($0)] }
        var prev = Array(-1..<(n - 1))
        var next = Array(1...n)
        next[n - 1] = -1
        var heap = BinaryHeap<MergeCandidate>()
        for i in 0..<(n - 1) {
            if let m = lookup(ids[i], ids[i + 1]) { heap.push(MergeCandidate(rank: m.rank, left: Int32(i), l: ids[i], r: ids[i + 1])) }
        }
        var alive = [Bool](repeating: true, count: n)
        while let top = heap.pop() {
            let li = Int(top.left)
            guard alive[li], ids[li] == top.l else { continue }
            let ri = next[li]
            guard ri >= 0, ids[ri] == top.r, let m = lookup(top.l, top.r) else { continue }
            ids[li] = m.merged
            alive[ri] = false
            next[li] = next[ri]
            if next[ri] >= 0 { prev[next[ri]] = li }
            if prev[li] >= 0, let pm = lookup(ids[prev[li]], ids[li]) {
                heap.push(MergeCandidate(rank: pm.rank, left: Int32(prev[li]), l: ids[prev[li]], r: ids[li]))
            }
            if next[li] >= 0, let nm = lookup(ids[li], ids[next[li]]) {
                heap.push(MergeCandidate(rank: nm.rank, left: Int32(li), l: ids[li], r: ids[next[li]]))
            }
        }
        var i = 0
        while i >= 0 && i < n {
            if ids[i] >= 0 { out.append(ids[i]) }
            i = next[i]
        }
    }
}

/// A candidate merge: lowest rank first, then leftmost.
struct MergeCandidate: Comparable {
    var rank: Int32
    var left: Int32
    var l: Int32
    var r: Int32
    static func < (a: MergeCandidate, b: MergeCandidate) -> Bool { (a.rank, a.left) < (b.rank, b.left) }
    static func == (a: MergeCandidate, b: MergeCandidate) -> Bool { (a.rank, a.left) == (b.rank, b.left) }
}
