import CKernels
import Foundation
import Testing

@Suite struct CPUFeatureTests {
    /// The CPUID answer agrees with what the kernel reports in /proc/cpuinfo.
    @Test func featuresMatchProcCpuinfo() throws {
        #if arch(x86_64)
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        guard let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            Issue.record("no flags line in /proc/cpuinfo")
            return
        }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let f = ck_cpu_features()
        #expect((f & UInt32(CK_CPU_AVX2) != 0) == flags.contains("avx2"))
        #expect((f & UInt32(CK_CPU_FMA) != 0) == flags.contains("fma"))
        #expect((f & UInt32(CK_CPU_F16C) != 0) == flags.contains("f16c"))
        #expect((f & UInt32(CK_CPU_AVX512F) != 0) == flags.contains("avx512f"))
        #expect((f & UInt32(CK_CPU_AVX512VNNI) != 0) == flags.contains("avx512_vnni"))
        #expect((f & UInt32(CK_CPU_AVXVNNI) != 0) == flags.contains("avx_vnni"))
        #endif
    }
}
