import Testing
@testable import KubeSeedCore

/// Which of the agent's mappings it may drop from its page tables before sleeping: only clean, read-only
/// ones of its own executable (a file just written has dirty page-cache pages: still the file's). A relocated
/// read-only segment (written once: anonymous pages),
/// a writable one, another file's, and one with nothing resident are never named. Pure (a smaps excerpt).
@Suite struct SMapsTests {
    static func mapping(_ range: String, _ permissions: String, _ path: String, rss: Int, privateDirty: Int = 0, anonymous: Int = 0, swap: Int = 0) -> String {
        """
        \(range) \(permissions) 00000000 fe:01 1311  \(path)
        Size:              40000 kB
        Rss:               \(rss) kB
        Pss:               \(rss) kB
        Shared_Clean:          0 kB
        Shared_Dirty:          0 kB
        Private_Clean:     \(rss - privateDirty) kB
        Private_Dirty:     \(privateDirty) kB
        Referenced:        \(rss) kB
        Anonymous:         \(anonymous) kB
        Swap:              \(swap) kB
        VmFlags: rd mr mw me sd

        """
    }

    @Test func onlyCleanReadOnlyMappingsOfTheExecutableAreNamed() {
        let text = [
            Self.mapping("555555554000-555557000000", "r--p", "/usr/bin/seed", rss: 9000),
            Self.mapping("555557000000-55555a000000", "r-xp", "/usr/bin/seed", rss: 17000, privateDirty: 17000),
            Self.mapping("55555a000000-55555a100000", "r--p", "/usr/bin/seed", rss: 400, privateDirty: 400, anonymous: 400),
            Self.mapping("55555a100000-55555a200000", "rw-p", "/usr/bin/seed", rss: 300, privateDirty: 300),
            Self.mapping("55555a200000-55555a300000", "r--p", "/usr/bin/seed", rss: 0),
            Self.mapping("7ffff7000000-7ffff7100000", "r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", rss: 800),
            Self.mapping("7ffff7200000-7ffff7300000", "r--p", "/usr/bin/seed-old", rss: 100),
            // Relocated pages swapped out: Anonymous 0, the copies under Swap.
            Self.mapping("7ffff7400000-7ffff7500000", "r--p", "/usr/bin/seed", rss: 200, swap: 64),
            // No Anonymous line at all: not named.
            Self.mapping("7ffff7600000-7ffff7700000", "r--p", "/usr/bin/seed", rss: 200).replacingOccurrences(of: "Anonymous:         0 kB\n", with: ""),
            Self.mapping("7ffffffde000-7ffffffff000", "rw-p", "[stack]", rss: 132, privateDirty: 132, anonymous: 132),
        ].joined()
        let ranges = SMaps.cleanReadOnlyMappings(text, file: "/usr/bin/seed")
        #expect(ranges == [SMaps.Range(start: 0x555555554000, end: 0x555557000000, resident: 9000),
                           SMaps.Range(start: 0x555557000000, end: 0x55555a000000, resident: 17000)])
    }

    @Test func damagedTextNamesNothing() {
        for text in ["", "garbage\n", "zz-yy r--p 0 0 0 /usr/bin/seed\nRss: 5 kB\n", "2000-1000 r--p 0 0 0 /usr/bin/seed\nRss: 5 kB\n"] {
            #expect(SMaps.cleanReadOnlyMappings(text, file: "/usr/bin/seed").isEmpty, "\(text)")
        }
    }
}
