import Runtime

/// The runtime's seeded generator, so test failures reproduce.
public typealias SplitMix64 = Runtime.SplitMix64
