import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic): rendered files against golden files, and the editors.
@Suite struct RenderTests {
    @Test func modulesLoadMatchesGolden() throws {
        let observed = NodeObservation()
        var withConntrack = observed
        withConntrack.modules["nf_conntrack"] = .loadable
        let modules = NodePlanner.wantedModules(NodePrepSettings(), withConntrack)
        let text = Render.modulesLoad(modules)
        try expectGolden(text, "modules-load.conf")
        // Re-parse as systemd-modules-load does: one name a line, # comments.
        let parsed = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        #expect(parsed == ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "br_netfilter", "overlay", "nf_conntrack"])
    }

    @Test func sysctlConfMatchesGoldenAndReparses() throws {
        let settings = NodePrepSettings().sysctls.filter { !$0.onlyIfPresent }
        let text = Render.sysctlConf(settings)
        try expectGolden(text, "sysctl.conf")
        let parsed = parseSysctlConf(text)
        #expect(parsed.map(\.0) == settings.map(\.key))
        #expect(parsed.map(\.1) == settings.map(\.value))
        // The guide's bug (gc_thresh1 three times) stays fixed.
        #expect(parsed.filter { $0.0 == "net.ipv4.neigh.default.gc_thresh1" }.count == 1)
        #expect(Set(parsed.map(\.0)).count == parsed.count)
    }

    @Test func fstabSwapLinesAreCommentedAndNothingElseChanges() throws {
        let input = try golden("fstab.in")
        let output = Render.fstabWithoutSwap(input)
        try expectGolden(output, "fstab.out")
        #expect(Render.fstabSwapEntries(input) == ["/swapfile", "UUID=0a1b2c3d-1111-2222-3333-444455556666"])
        #expect(Render.fstabSwapEntries(output).isEmpty)
        // Idempotent: a second pass changes nothing.
        #expect(Render.fstabWithoutSwap(output) == output)
        // Only swap lines gained a prefix; every other byte is the same.
        let inLines = input.split(separator: "\n", omittingEmptySubsequences: false)
        let outLines = output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(inLines.count == outLines.count)
        for (a, b) in zip(inLines, outLines) where a != b { #expect(b == Render.fstabMarker + a) }
    }

    @Test func selinuxConfigEdits() throws {
        let input = try golden("selinux-config.in")
        #expect(Render.selinuxConfigMode(input) == "enforcing")
        let output = Render.selinuxConfig(input, mode: .permissive)
        try expectGolden(output, "selinux-config.out")
        #expect(Render.selinuxConfigMode(output) == "permissive")
        #expect(Render.selinuxConfig("", mode: .disabled) == "SELINUX=disabled\n")
    }

    @Test(arguments: [
        ("/swapfile", "swapfile"),
        ("/dev/disk/by-uuid/0a1b-22", "dev-disk-by\\x2duuid-0a1b\\x2d22"),
        ("/var/lib/swap file", "var-lib-swap\\x20file"),
        ("//dev//vdb/", "dev-vdb"),
        ("/", "-"),
        ("/.hidden", "\\x2ehidden"),
    ])
    func unitPathEscapingMatchesSystemdEscape(_ path: String, _ escaped: String) {
        #expect(Render.escapedUnitPath(path) == escaped)
    }

    @Test func swapUnitNames() {
        #expect(Render.swapUnitName(forDevice: "/swapfile") == "swapfile.swap")
        #expect(Render.swapUnitName(forDevice: "UUID=ab-cd") == "dev-disk-by\\x2duuid-ab\\x2dcd.swap")
        #expect(Render.swapUnitName(forDevice: "LABEL=swap") == "dev-disk-by\\x2dlabel-swap.swap")
        #expect(Render.swapUnitName(forDevice: "tmpfs") == nil)
    }

    @Test func procSwapsParsing() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swap\\040file                               file\t\t65532\t\t0\t\t-2\n/dev/vdb partition 1024 0 -3\n"
        #expect(Render.procSwapsPaths(text) == ["/swap file", "/dev/vdb"])
        #expect(Render.procSwapsPaths("Filename Type Size Used Priority\n").isEmpty)
    }
}

/// Unit tests (pure logic): /proc parsers.
@Suite struct ProcParserTests {
    @Test func meminfo() {
        let m = ProcParsers.meminfo("MemTotal:        2030000 kB\nMemFree:  100 kB\nMemAvailable:    1500000 kB\n")
        #expect(m.totalKiB == 2_030_000)
        #expect(m.availableKiB == 1_500_000)
    }

    @Test func cpus() {
        #expect(ProcParsers.cpuCount("0-1\n") == 2)
        #expect(ProcParsers.cpuCount("0-3,6,8-9") == 7)
        #expect(ProcParsers.cpuCount("0") == 1)
        #expect(ProcParsers.cpuCount("") == 0)
    }

    @Test func listeningPorts() {
        let tcp = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0100007F:0950 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
           1: 00000000:2816 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
           2: 0100007F:1A0B 0100007F:0950 01 00000000:00000000 00:00000000 00000000     0        0 1 1
        """
        #expect(ProcParsers.listeningPorts(tcp) == [2384, 10262])
    }
}
