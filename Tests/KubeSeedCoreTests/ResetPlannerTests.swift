import Foundation
import Testing
@testable import KubeSeedCore

/// `ResetPlanner` as tables: journal records and an observation in, steps out (pure; no host).
@Suite struct ResetPlannerTests {
    static let original = Data("original\n".utf8)

    struct FileCase: CustomTestStringConvertible, Sendable {
        var name: String
        var path = "/etc/crictl.yaml"
        var previous: Data?
        var state: ResetObservation.FileState
        var expected: ResetStep
        var testDescription: String { name }
    }

    static let fileCases: [FileCase] = [
        FileCase(name: "as written, had an original: written back", previous: original, state: .asWritten,
                 expected: .writeFile(path: "/etc/crictl.yaml", content: original, mode: 0o640)),
        FileCase(name: "as written, new: removed", previous: nil, state: .asWritten, expected: .removeFile("/etc/crictl.yaml")),
        FileCase(name: "gone, had an original: written back", previous: original, state: .absent,
                 expected: .writeFile(path: "/etc/crictl.yaml", content: original, mode: 0o640)),
        FileCase(name: "gone, new: nothing", previous: nil, state: .absent, expected: .nothing("/etc/crictl.yaml already gone")),
        FileCase(name: "edited since, new: left", previous: nil, state: .changed(text: "mine\n"),
                 expected: .keep(detail: "/etc/crictl.yaml changed since KubeSeed created it: left in place", backup: nil)),
        FileCase(name: "edited since, had an original: left, original beside it", previous: original, state: .changed(text: "mine\n"),
                 expected: .keep(detail: "/etc/crictl.yaml changed since KubeSeed wrote it: left in place; its original is in /etc/crictl.yaml.kubeseed-orig",
                                 backup: .init(path: "/etc/crictl.yaml.kubeseed-orig", content: original, mode: 0o640))),
        FileCase(name: "fstab edited since: swap lines back, edits kept", path: "/etc/fstab", previous: original,
                 state: .changed(text: "/dev/vda / ext4 defaults 0 1\n\(Render.fstabMarker)/swapfile none swap sw 0 0\n/dev/vdb /srv ext4 defaults 0 2\n"),
                 expected: .restoreSwapLines(path: "/etc/fstab", content: Data("/dev/vda / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n/dev/vdb /srv ext4 defaults 0 2\n".utf8), mode: 0o640)),
        FileCase(name: "unreadable: nothing decided, the record stays", previous: original, state: .unreadable("EIO"),
                 expected: .cannotDecide("/etc/crictl.yaml could not be read (EIO)")),
        FileCase(name: "fstab not UTF-8 since: left, original beside it", path: "/etc/fstab", previous: original, state: .changed(text: nil),
                 expected: .keep(detail: "/etc/fstab changed since KubeSeed wrote it: left in place; its original is in /etc/fstab.kubeseed-orig",
                                 backup: .init(path: "/etc/fstab.kubeseed-orig", content: original, mode: 0o640))),
    ]

    @Test(arguments: fileCases) func aFileIsUndoneOnlyWhileItHoldsWhatKubeSeedWrote(_ c: FileCase) {
        var observed = ResetObservation()
        observed.files[c.path] = c.state
        let plan = ResetPlanner.plan([.file(path: c.path, previous: c.previous, previousMode: 0o640)], observed)
        #expect(plan.steps == [c.expected])
    }

    struct LinkCase: CustomTestStringConvertible, Sendable {
        var name: String
        var previousTarget: String?
        var made: String?
        var state: ResetObservation.LinkState
        var expected: ResetStep
        var testDescription: String { name }
    }

    static let path = "/opt/cni/bin/bridge"
    static let linkCases: [LinkCase] = [
        LinkCase(name: "still KubeSeed's, new: removed", made: "/usr/lib/cni/bridge", state: .link(to: "/usr/lib/cni/bridge"), expected: .removeFile(path)),
        LinkCase(name: "still KubeSeed's, had one: pointed back", previousTarget: "/old/bridge", made: "/usr/lib/cni/bridge",
                 state: .link(to: "/usr/lib/cni/bridge"), expected: .pointLink(path: path, target: "/old/bridge")),
        LinkCase(name: "a CNI installed a binary over it: left", made: "/usr/lib/cni/bridge", state: .other,
                 expected: .keep(detail: "\(path) was replaced since KubeSeed linked it: left in place", backup: nil)),
        LinkCase(name: "pointed elsewhere since: left", made: "/usr/lib/cni/bridge", state: .link(to: "/elsewhere"),
                 expected: .keep(detail: "\(path) points elsewhere since KubeSeed linked it (→ /elsewhere): left in place", backup: nil)),
        LinkCase(name: "gone: nothing", made: "/usr/lib/cni/bridge", state: .absent, expected: .nothing("\(path) already gone")),
        LinkCase(name: "no record of what KubeSeed linked, already back", previousTarget: "../usr/share/zoneinfo/Etc/UTC",
                 state: .link(to: "../usr/share/zoneinfo/Etc/UTC"), expected: .nothing("\(path) already → ../usr/share/zoneinfo/Etc/UTC")),
    ]

    @Test(arguments: linkCases) func aLinkIsUndoneOnlyWhileItIsKubeSeeds(_ c: LinkCase) {
        var observed = ResetObservation()
        observed.links[Self.path] = c.state
        var records: [JournalRecord] = [.symlink(path: Self.path, previousTarget: c.previousTarget)]
        if let made = c.made { records.append(.linkMade(path: Self.path, target: made)) }
        #expect(ResetPlanner.plan(records, observed).steps == [c.expected])
    }

    @Test func newestFirstThenUnmaskReloadRestartAndModules() {
        let records: [JournalRecord] = [
            .moduleLoaded("br_netfilter"), .moduleLoaded("ip_vs"),
            .sysctl(key: "net.ipv4.ip_forward", previous: "0"), .sysctl(key: "net.bridge.bridge-nf-call-iptables", previous: "0"),
            .swapActive("/swapfile"), .unitMasked("swapfile.swap"), .unitMasked("swap.target"),
            .file(path: NodePaths.containerdConfig, previous: Self.original, previousMode: 0o644),
            .unitEnabled("kubelet.service"), .unitStarted("kubelet.service"),
            .file(path: EtcdUnit.path, previous: nil, previousMode: nil), .unitStarted("etcd.service"),
            .etcdMemberAdded(peerURL: "https://192.0.2.11:2380", via: ["https://192.0.2.10:2379"]),
        ]
        var observed = ResetObservation()
        observed.files = [NodePaths.containerdConfig: .asWritten, EtcdUnit.path: .asWritten]
        observed.sysctlsPresent = ["/proc/sys/net/ipv4/ip_forward"]
        observed.modulesLoaded = ["br_netfilter", "ip_vs"]
        #expect(ResetPlanner.plan(records, observed).steps == [
            .stopUnit("etcd.service"), .removeFile(EtcdUnit.path),
            .stopUnit("kubelet.service"), .disableUnit("kubelet.service"),
            .writeFile(path: NodePaths.containerdConfig, content: Self.original, mode: 0o644),
            .enableSwap("/swapfile"),
            .nothing("sysctl net.bridge.bridge-nf-call-iptables gone with its module"),
            .setSysctl(key: "net.ipv4.ip_forward", procPath: "/proc/sys/net/ipv4/ip_forward", value: "0"),
            .unmask(["swapfile.swap", "swap.target"]), .reload,
            // Each only if it still runs then (etcd will not: the reset stops it first).
            .restartIfActive("containerd.service"), .restartIfActive("etcd.service"),
            .unloadModules(["ip_vs", "br_netfilter"]),
        ])
    }

    @Test func noReloadWithoutUnitFileChangesAndNoUnloadOfModulesGoneAlready() {
        var observed = ResetObservation()
        observed.files = ["/etc/a": .asWritten]
        let plan = ResetPlanner.plan([.moduleLoaded("ip_vs"), .file(path: "/etc/a", previous: nil, previousMode: nil), .unitStarted("etcd.service")], observed)
        #expect(plan.steps == [.stopUnit("etcd.service"), .removeFile("/etc/a")])
    }

    @Test func imagesAreRemovedOnlyWhenContainerdHoldsThemAndCanBeAsked() {
        let records: [JournalRecord] = [.imageImported("registry.k8s.io/pause:3.2"), .imageImported("docker.io/coredns/coredns:1.7.0")]
        var observed = ResetObservation()
        #expect(ResetPlanner.plan(records, observed).steps.allSatisfy {
            if case .keep(let detail, nil) = $0 { detail.contains("containerd cannot be asked") } else { false }
        })
        observed.images = .unanswered("connection refused")
        let unanswered = ResetPlanner.plan(records, observed)
        #expect(unanswered.steps == [.cannotDecide("containerd did not list its images (connection refused)"),
                                     .cannotDecide("containerd did not list its images (connection refused)")])
        #expect(unanswered.entries.flatMap(\.records) == records.reversed(), "each keeps its record when it fails")
        observed.images = .holds(["registry.k8s.io/pause:3.2"])
        #expect(ResetPlanner.plan(records, observed).steps == [.nothing("image docker.io/coredns/coredns:1.7.0 already gone"), .removeImage("registry.k8s.io/pause:3.2")])
    }

    @Test func theJournalKeepsWhatFailedAndWhatKubeSeedWroteThereInItsOrder() {
        let records: [JournalRecord] = [
            .file(path: "/etc/a", previous: nil, previousMode: nil), .fileWritten(path: "/etc/a", sha256: "aa"),
            .file(path: "/etc/b", previous: nil, previousMode: nil), .fileWritten(path: "/etc/b", sha256: "bb"),
            .symlink(path: "/opt/cni/bin/bridge", previousTarget: nil), .linkMade(path: "/opt/cni/bin/bridge", target: "/usr/lib/cni/bridge"),
            .unitMasked("swap.target"), .unitMasked("swapfile.swap"),
        ]
        let failed: [JournalRecord] = [.unitMasked("swapfile.swap"), .file(path: "/etc/b", previous: nil, previousMode: nil), .unitMasked("swap.target")]
        #expect(ResetPlanner.remaining(records, failed: failed) == [
            .file(path: "/etc/b", previous: nil, previousMode: nil), .fileWritten(path: "/etc/b", sha256: "bb"),
            .unitMasked("swap.target"), .unitMasked("swapfile.swap"),
        ])
        #expect(ResetPlanner.remaining(records, failed: []).isEmpty)
    }
}
