import Crypto
import Foundation
import Glibc
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// The real archive code (zlib, tar, SHA-256) on archives made here with GNU tar. The "binaries"
/// inside are test data: an ELF magic number and filler, not Kubernetes programs.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tar"), "needs /usr/bin/tar to make test archives"))
struct BinaryInstallerTests {
    /// Makes `<root>/srv/k8s.tar.gz` with the given members (path → bytes); returns its host path.
    func archive(_ host: TemporaryHost, _ members: [String: [UInt8]], name: String = "k8s.tar.gz") throws -> String {
        let staging = host.root.resolve("/srv/staging-\(name)")
        for (path, bytes) in members {
            let url = URL(fileURLWithPath: staging + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        process.arguments = ["-czf", host.root.resolve("/srv/\(name)"), "-C", staging, "kubernetes"]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return "/srv/\(name)"
    }

    static func elf(_ size: Int, seed: UInt8) -> [UInt8] {
        [0x7f, 0x45, 0x4c, 0x46] + (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    let kubelet = elf(3_000_000, seed: 1)   // larger than one 1 MiB read: streaming across chunks
    let kubeProxy = elf(70_000, seed: 2)

    func setUp() throws -> (TemporaryHost, ChangeJournal) {
        let host = try TemporaryHost()
        try host.root.makeDirectory("/opt/k8s", mode: 0o755)
        try host.root.makeDirectory("/opt/k8s/bin", mode: 0o755)
        return (host, try ChangeJournal(root: host.root))
    }

    @Test func installsFromANodeArchiveWithALongNamedNeighbour() throws {
        let (host, journal) = try setUp()
        let long = "kubernetes/node/" + String(repeating: "l", count: 150) + "/LICENSES"
        let path = try archive(host, ["kubernetes/node/bin/kubelet": kubelet, "kubernetes/node/bin/kube-proxy": kubeProxy,
                                      "kubernetes/node/bin/kubeadm": Self.elf(10, seed: 3), long: Array("text".utf8)])
        let installed = try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal)
        #expect(installed.map(\.name) == ["kubelet", "kube-proxy"])
        #expect(installed.filter { !$0.changed }.isEmpty)
        #expect(try host.root.read("/opt/k8s/bin/kubelet") == Data(kubelet))
        #expect(try host.root.read("/opt/k8s/bin/kube-proxy") == Data(kubeProxy))
        #expect(host.root.mode("/opt/k8s/bin/kubelet") == 0o755)
        #expect(!host.root.exists("/opt/k8s/bin/kubeadm"))
        #expect(host.root.list("/opt/k8s/bin").sorted() == ["kube-proxy", "kubelet"])
        // Again: nothing changes.
        let again = try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal)
        #expect(again.allSatisfy { !$0.changed })
        // reset removes what was installed.
        let outcome = try HostReset(root: host.root, effects: host.effects, journal: ChangeJournal(root: host.root)).run()
        #expect(outcome.failed.isEmpty)
        #expect(host.root.list("/opt/k8s/bin").isEmpty)
    }

    @Test func aSecondInstallFromTheSameUntouchedArchiveIsAnsweredByTheRecordAndAnyChangeMeansTheWholeCheck() throws {
        let (host, journal) = try setUp()
        let path = try archive(host, ["kubernetes/node/bin/kubelet": kubelet, "kubernetes/node/bin/kube-proxy": kubeProxy])
        let digest = SHA256.hash(data: try host.root.read(path)!).map { String(format: "%02x", $0) }.joined()
        let installer = BinaryInstaller(root: host.root)
        func install(_ sha256: String? = nil, replace: Bool = false) throws -> [BinaryInstaller.Installed] {
            try installer.install(archive: path, sha256: sha256, replace: replace, journal: journal)
        }
        let first = try install(digest)
        #expect(first.allSatisfy { $0.changed && !$0.recorded })
        let record = try #require(try host.root.read(InstalledBinaries.path).flatMap(InstalledBinaries.decode))
        #expect(record.sha256 == digest && record.archive == path && Set(record.binaries.keys) == ["kubelet", "kube-proxy"])
        #expect(record.binaries["kubelet"]?.identity == host.root.identity("/opt/k8s/bin/kubelet"))
        #expect(host.root.mode(InstalledBinaries.path) == 0o644)

        #expect(try install(digest).allSatisfy { !$0.changed && $0.recorded })
        #expect(try install().allSatisfy { !$0.changed && $0.recorded }, "no SHA-256 asked: the unchanged archive file is enough")
        #expect(throws: HostError.self, "another expected SHA-256 is the whole check, which refuses it") { try install(String(repeating: "0", count: 64)) }

        // The same bytes written again: the binary is another file now, hashed and found the same; recorded again.
        try host.root.writeAtomically("/opt/k8s/bin/kubelet", Data(kubelet), mode: 0o755)
        #expect(try install(digest).allSatisfy { !$0.changed && !$0.recorded })
        #expect(try install(digest).allSatisfy { !$0.changed && $0.recorded })
        // A binary changed in place, same size: the record does not answer, and the whole check finds it.
        var altered = kubeProxy
        altered[100] ^= 0xff
        let fd = open(host.root.resolve("/opt/k8s/bin/kube-proxy"), O_WRONLY)
        _ = altered.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let error = #expect(throws: HostError.self) { try install(digest) }
        #expect(error?.description.contains("exists and differs") == true)
        #expect(try install(digest, replace: true).filter(\.changed).map(\.name) == ["kube-proxy"])
        // The archive rewritten with the same bytes: the whole check again.
        try host.root.writeAtomically(path, try host.root.read(path)!, mode: 0o644)
        #expect(try install(digest).allSatisfy { !$0.changed && !$0.recorded })

        let outcome = try HostReset(root: host.root, effects: host.effects, journal: ChangeJournal(root: host.root)).run()
        #expect(outcome.failed.isEmpty)
        #expect(!host.root.exists(InstalledBinaries.path), "reset removes the record")
    }

    @Test func serverArchiveLayoutAndChecksum() throws {
        let (host, journal) = try setUp()
        let path = try archive(host, ["kubernetes/server/bin/kubelet": kubelet, "kubernetes/server/bin/kube-proxy": kubeProxy])
        let digest = SHA256.hash(data: try host.root.read(path)!).map { String(format: "%02x", $0) }.joined()
        let installed = try BinaryInstaller(root: host.root).install(archive: path, sha256: digest.uppercased(), replace: false, journal: journal)
        #expect(installed.count == 2)
    }

    @Test func theMasterTakesTheControlPlaneAndItsOwnNodeBinariesAndNothingElseFromAServerArchive() throws {
        let (host, journal) = try setUp()
        var members: [String: [UInt8]] = ["kubernetes/server/bin/kubelet": kubelet, "kubernetes/server/bin/kube-proxy": kubeProxy,
                                          "kubernetes/server/bin/kubeadm": Self.elf(3000, seed: 99)]
        for (index, name) in KubernetesArchive.controlPlaneBinaries.enumerated() {
            members["kubernetes/server/bin/\(name)"] = Self.elf(2000 + index, seed: UInt8(index))
        }
        let path = try archive(host, members)
        let installed = try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, wanted: KubernetesArchive.masterBinaries,
                                                                   replace: false, journal: journal)
        #expect(Set(installed.map(\.name)) == Set(KubernetesArchive.masterBinaries))
        #expect(host.root.list("/opt/k8s/bin").sorted() == KubernetesArchive.masterBinaries.sorted(), "kubeadm is not KubeSeed's")
        #expect(KubernetesArchive.masterBinaries.allSatisfy { access(host.root.resolve("/opt/k8s/bin/\($0)"), X_OK) == 0 })
    }

    func serverArchive(_ host: TemporaryHost, binary: (String) -> [UInt8]) throws -> String {
        var members: [String: [UInt8]] = [:]
        for name in KubernetesArchive.masterBinaries { members["kubernetes/server/bin/\(name)"] = binary(name) }
        return try archive(host, members)
    }

    /// The version probe is a fake here (it reads what the test wrote); the VM runs the real binaries' --version.
    @Test func eachServerBinaryMustBeTheClustersReleaseOrNothingIsInstalled() throws {
        let (host, journal) = try setUp()
        let path = try serverArchive(host) { Self.elf(1000, seed: UInt8($0.count)) + Array("|Kubernetes v1.20.2".utf8) }
        var probed: [String] = []
        func probe(reporting version: String) -> (String) throws -> String {
            { path in
                probed.append((path as NSString).lastPathComponent)
                #expect(FileManager.default.isExecutableFile(atPath: path), "a closed, named temporary is run")
                return "Kubernetes \(version)\n"
            }
        }
        let error = #expect(throws: HostError.self) {
            try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, wanted: KubernetesArchive.masterBinaries, replace: false,
                                                          journal: journal, version: KubernetesVersion("v1.20.2"), versionProbe: probe(reporting: "v1.21.0"))
        }
        #expect(error?.description.contains("holds Kubernetes v1.21.0") == true && error?.description.contains("nothing was installed") == true)
        #expect(host.root.list("/opt/k8s/bin").isEmpty, "no binary and no temporary left")
        #expect(journal.records.isEmpty)
        #expect(probed.count == 1 && probed[0].hasPrefix(".kube-apiserver.kubeseed-"))

        probed = []
        let installed = try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, wanted: KubernetesArchive.masterBinaries, replace: false,
                                                                   journal: journal, version: KubernetesVersion("v1.20.2"), versionProbe: probe(reporting: "v1.20.2"))
        #expect(installed.allSatisfy(\.changed) && installed.count == KubernetesArchive.masterBinaries.count)
        #expect(probed.count == KubernetesArchive.versionedBinaries.count, "kubectl is a client: not probed")
        // Again: every binary is already in place, byte for byte, so none is run.
        probed = []
        let again = try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, wanted: KubernetesArchive.masterBinaries, replace: false,
                                                               journal: journal, version: KubernetesVersion("v1.20.2"), versionProbe: probe(reporting: "v1.20.2"))
        #expect(again.allSatisfy { !$0.changed } && probed.isEmpty)
        #expect(host.root.list("/opt/k8s/bin").sorted() == KubernetesArchive.masterBinaries.sorted())
    }

    /// The live probe runs the binary: an ELF that is not Kubernetes (coreutils' echo) prints no version.
    @Test func aBinaryThatPrintsNoKubernetesVersionIsRefusedByTheLiveProbe() throws {
        guard let echo = FileManager.default.contents(atPath: "/bin/echo") else { return }
        let (host, journal) = try setUp()
        let path = try serverArchive(host) { _ in Array(echo) }
        let error = #expect(throws: HostError.self) {
            try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, wanted: KubernetesArchive.masterBinaries, replace: false,
                                                          journal: journal, version: KubernetesVersion("v1.20.2"))
        }
        #expect(error?.description.contains("did not print its version") == true, "\(String(describing: error))")
        #expect(host.root.list("/opt/k8s/bin").isEmpty)
    }

    @Test func wrongChecksumInstallsNothing() throws {
        let (host, journal) = try setUp()
        let path = try archive(host, ["kubernetes/node/bin/kubelet": kubelet, "kubernetes/node/bin/kube-proxy": kubeProxy])
        let error = #expect(throws: HostError.self) {
            try BinaryInstaller(root: host.root).install(archive: path, sha256: String(repeating: "0", count: 64), replace: false, journal: journal)
        }
        #expect(error?.description.contains("does not match the expected SHA-256") == true)
        #expect(host.root.list("/opt/k8s/bin").isEmpty)
    }

    /// The SHA-256 is checked on the compressed file before anything is inflated: a real file of a
    /// gzip header followed by bytes that are not deflate data gets the SHA-256 mismatch, not a gzip
    /// error, and leaves binDir empty; with its right SHA-256 the same file gets to zlib, which
    /// refuses it. A digest that is not 64 hex digits is refused before the file is opened.
    @Test func theChecksumIsCheckedBeforeAnythingIsInflated() throws {
        let (host, journal) = try setUp()
        try host.root.makeDirectory("/srv", mode: 0o755)
        let bytes = Data([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]) + Data(repeating: 0xff, count: 4096)
        try host.root.writeAtomically("/srv/not-deflate.tar.gz", bytes, mode: 0o644)
        let installer = BinaryInstaller(root: host.root)
        let mismatch = #expect(throws: HostError.self) {
            try installer.install(archive: "/srv/not-deflate.tar.gz", sha256: String(repeating: "ab", count: 32), replace: false, journal: journal)
        }
        #expect(mismatch?.description.contains("does not match the expected SHA-256") == true)
        #expect(mismatch?.description.contains("nothing was extracted") == true)
        #expect(host.root.list("/opt/k8s/bin").isEmpty)
        let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        let inflated = #expect(throws: HostError.self) {
            try installer.install(archive: "/srv/not-deflate.tar.gz", sha256: digest, replace: false, journal: journal)
        }
        #expect(inflated?.description.contains("is not a valid gzip file") == true)
        let malformed = #expect(throws: HostError.self) {
            try installer.install(archive: "/srv/missing.tar.gz", sha256: "sha256:" + digest, replace: false, journal: journal)
        }
        #expect(malformed?.description.contains("is not 64 hex digits") == true)
        #expect(host.root.list("/opt/k8s/bin").isEmpty)
    }

    @Test func missingMemberNotELFTruncatedAndExistingBinaryAreRefused() throws {
        let (host, journal) = try setUp()
        let installer = BinaryInstaller(root: host.root)
        let onlyKubelet = try archive(host, ["kubernetes/node/bin/kubelet": kubelet], name: "a.tar.gz")
        #expect(throws: HostError.self) { try installer.install(archive: onlyKubelet, sha256: nil, replace: false, journal: journal) }
        let script = try archive(host, ["kubernetes/node/bin/kubelet": Array("#!/bin/sh\n".utf8), "kubernetes/node/bin/kube-proxy": kubeProxy], name: "b.tar.gz")
        let notELF = #expect(throws: HostError.self) { try installer.install(archive: script, sha256: nil, replace: false, journal: journal) }
        #expect(notELF?.description.contains("not an ELF executable") == true)
        let good = try archive(host, ["kubernetes/node/bin/kubelet": kubelet, "kubernetes/node/bin/kube-proxy": kubeProxy], name: "c.tar.gz")
        let data = try host.root.read(good)!
        try host.root.writeAtomically("/srv/truncated.tar.gz", data.prefix(data.count / 2), mode: 0o644)
        #expect(throws: HostError.self) { try installer.install(archive: "/srv/truncated.tar.gz", sha256: nil, replace: false, journal: journal) }
        #expect(host.root.list("/opt/k8s/bin").isEmpty)
        try host.root.writeAtomically("/opt/k8s/bin/kubelet", Data(Self.elf(5, seed: 9)), mode: 0o755)
        let exists = #expect(throws: HostError.self) { try installer.install(archive: good, sha256: nil, replace: false, journal: journal) }
        #expect(exists?.description.contains("pass --replace") == true)
        #expect(try installer.install(archive: good, sha256: nil, replace: true, journal: journal).count == 2)
        #expect(try host.root.read("/opt/k8s/bin/kubelet") == Data(kubelet))
    }

    @Test func tarHeaderChecksumIsVerified() throws {
        var block = [UInt8](repeating: 0, count: 512)
        Array("kubernetes/node/bin/kubelet".utf8).enumerated().forEach { block[$0.offset] = $0.element }
        Array("0000644\0".utf8).enumerated().forEach { block[100 + $0.offset] = $0.element }
        Array("00000000012\0".utf8).enumerated().forEach { block[124 + $0.offset] = $0.element }
        block[156] = UInt8(ascii: "0")
        let sum = block.enumerated().reduce(0) { $0 + ((148..<156).contains($1.offset) ? 32 : Int($1.element)) }
        Array(String(format: "%06o\0 ", sum).utf8).enumerated().forEach { block[148 + $0.offset] = $0.element }
        let header = try #require(try TarHeader.parse(block))
        #expect(header.name == "kubernetes/node/bin/kubelet" && header.size == 10 && header.mode == 0o644 && header.kind == .file)
        block[0] = UInt8(ascii: "X")
        #expect(throws: TarError.self) { try TarHeader.parse(block) }
        let end = try TarHeader.parse([UInt8](repeating: 0, count: 512))
        #expect(end == nil)
    }
}
