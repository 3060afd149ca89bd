import Foundation
import Testing
@testable import KubeSeedCore

/// When the record of the last install answers a second one without reading anything (pure logic;
/// BinaryInstallerTests runs it on files, the VM on the real archive).
struct InstalledBinariesTests {
    static func identity(_ inode: UInt64, changed: Int64 = 100) -> FileIdentity {
        FileIdentity(device: 1, inode: inode, size: 10, modified: 50, modifiedNanoseconds: 7, changed: changed, changedNanoseconds: 9)
    }

    static let record = InstalledBinaries(
        archive: "/srv/k8s.tar.gz", archiveIdentity: identity(1), sha256: String(repeating: "a", count: 64), version: "v1.20.2",
        binaries: ["kubelet": .init(path: "/opt/k8s/bin/kubelet", bytes: 10, identity: identity(2)),
                   "kube-proxy": .init(path: "/opt/k8s/bin/kube-proxy", bytes: 10, identity: identity(3))])

    struct Case: Sendable, CustomStringConvertible {
        var description: String
        var archive = "/srv/k8s.tar.gz"
        var archiveIdentity: FileIdentity? = InstalledBinariesTests.identity(1)
        var sha256: String? = String(repeating: "a", count: 64)
        var version: KubernetesVersion? = KubernetesVersion("v1.20.2")
        var wanted = ["kubelet", "kube-proxy"]
        var binDir = "/opt/k8s/bin"
        var onDisk: [String: FileIdentity] = ["/opt/k8s/bin/kubelet": InstalledBinariesTests.identity(2),
                                              "/opt/k8s/bin/kube-proxy": InstalledBinariesTests.identity(3)]
        var covers: Bool
    }

    static let cases: [Case] = [
        Case(description: "everything as recorded", covers: true),
        Case(description: "no SHA-256 asked for, the archive file unchanged", sha256: nil, covers: true),
        Case(description: "no version asked for", version: nil, covers: true),
        Case(description: "fewer binaries wanted", wanted: ["kubelet"], covers: true),
        Case(description: "another archive path", archive: "/srv/other.tar.gz", covers: false),
        Case(description: "the archive rewritten (change time moved)", archiveIdentity: identity(1, changed: 101), covers: false),
        Case(description: "the archive gone", archiveIdentity: nil, covers: false),
        Case(description: "another SHA-256 asked for", sha256: String(repeating: "b", count: 64), covers: false),
        Case(description: "another version asked for", version: KubernetesVersion("v1.21.0"), covers: false),
        Case(description: "a binary the record does not hold", wanted: ["kubelet", "kube-proxy", "kubectl"], covers: false),
        Case(description: "another bin directory", binDir: "/usr/local/bin", covers: false),
        Case(description: "a binary rewritten", onDisk: ["/opt/k8s/bin/kubelet": identity(2, changed: 200), "/opt/k8s/bin/kube-proxy": identity(3)], covers: false),
        Case(description: "a binary replaced (another inode)", onDisk: ["/opt/k8s/bin/kubelet": identity(9), "/opt/k8s/bin/kube-proxy": identity(3)], covers: false),
        Case(description: "a binary removed", onDisk: ["/opt/k8s/bin/kubelet": identity(2)], covers: false),
    ]

    @Test(arguments: cases) func theRecordAnswersOnlyForTheSameUntouchedFiles(_ c: Case) {
        #expect(Self.record.covers(archive: c.archive, archiveIdentity: c.archiveIdentity, sha256: c.sha256, version: c.version,
                                   wanted: c.wanted, target: { "\(c.binDir)/\($0)" }, identity: { c.onDisk[$0] }) == c.covers)
    }

    @Test func theRecordReadsBackAndAnythingElseIsNoRecord() {
        #expect(InstalledBinaries.decode(Self.record.encoded()) == Self.record)
        #expect(InstalledBinaries.decode(Data("{}".utf8)) == nil)
        #expect(InstalledBinaries.decode(Data("not json".utf8)) == nil)
        #expect(InstalledBinaries.decode(Data()) == nil)
    }
}
