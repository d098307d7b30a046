/// Limits which tokens a choice may produce (structured output, forced tool calls). The
/// engine samples as usual and keeps the token when the constraint allows it; otherwise it
/// samples again from the allowed tokens only (llama.cpp's grammar sampling does the same).
/// One instance per choice, used on the engine thread only.
public protocol TokenConstraint: AnyObject {
    func allows(_ token: Int32) -> Bool
    /// Every token allowed now (only needed when the first pick was refused).
    func allowedTokens() -> [Int32]
    /// The chosen token, which `allows` accepted.
    func accept(_ token: Int32)
}
