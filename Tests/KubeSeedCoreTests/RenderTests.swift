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

/// Unit tests (pure logic): choosing the default route from rtnetlink dumps (fabricated messages).
@Suite struct DefaultRouteTests {
    func route(dstLen: UInt8, table: UInt8 = 254, oif: UInt32, metric: UInt32?, gateway: [UInt8]?) -> NetlinkMessage {
        var attributes: [UInt16: [UInt8]] = [4: le(oif)]
        if let metric { attributes[6] = le(metric) }
        if let gateway { attributes[5] = gateway }
        return NetlinkMessage(header: [2, dstLen, 0, 0, table, 3, 0, 1, 0, 0, 0, 0], attributes: attributes)
    }
    func le(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
    func link(_ index: UInt32, _ name: String) -> NetlinkMessage {
        NetlinkMessage(header: [0, 0, 0, 0] + le(index) + [0, 0, 0, 0, 0, 0, 0, 0], attributes: [3: Array(name.utf8) + [0]])
    }
    func address(_ index: UInt32, _ ip: [UInt8]) -> NetlinkMessage {
        NetlinkMessage(header: [2, 24, 0, 0] + le(index), attributes: [2: ip, 1: ip])
    }

    @Test func lowestMetricMainTableDefaultRouteWins() {
        let routes = [
            route(dstLen: 24, oif: 2, metric: nil, gateway: nil),
            route(dstLen: 0, oif: 2, metric: 200, gateway: [10, 0, 0, 1]),
            route(dstLen: 0, oif: 3, metric: 100, gateway: [192, 0, 2, 1]),
            route(dstLen: 0, table: 100, oif: 4, metric: 0, gateway: [198, 51, 100, 1]),
        ]
        let found = DefaultRoute.find(routes: routes, links: [link(2, "eth0"), link(3, "eth1"), link(4, "wg0")],
                                      addresses: [address(2, [10, 0, 0, 5]), address(3, [192, 0, 2, 10])])
        #expect(found == DefaultRoute(interface: "eth1", address: "192.0.2.10", gateway: "192.0.2.1"))
    }

    @Test func noDefaultRoute() {
        #expect(DefaultRoute.find(routes: [route(dstLen: 8, oif: 1, metric: nil, gateway: nil)], links: [], addresses: []) == nil)
    }
}
