import Foundation
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// gzip files of several members (`cat a.gz b.gz`), which gzip(1) and GNU tar read as one stream.
/// Real: a tar made by GNU tar, split in the test at an offset inside the kubelet's data, each part
/// compressed by gzip(1), the parts concatenated; GNU tar itself is run on the result to show it is
/// an archive GNU tar accepts; then the installer reads it into a temporary root.
@Suite(.enabled(if: ArchiveFixture.toolsPresent, "needs /usr/bin/tar and /usr/bin/gzip to make test archives"))
struct ArchiveGzipTests {
    let kubelet = ArchiveFixture.elf(3_000_000, seed: 1)   // spans several 1 MiB buffers and the split
    let kubeProxy = ArchiveFixture.elf(70_000, seed: 2)

    /// The archive's tar bytes split in three parts (the middle one empty), each gzipped, concatenated.
    func multiMember(_ host: TemporaryHost, name: String) throws -> (path: String, parts: [Data]) {
        let plain = try ArchiveFixture.gnuTar(host, ["kubernetes/node/bin/kubelet": kubelet, "kubernetes/node/bin/kube-proxy": kubeProxy],
                                              compress: false, name: "plain.tar")
        let tar = [UInt8](try host.root.read(plain)!)
        let split = tar.count / 3   // inside the kubelet's data or the kube-proxy's: either way mid-member
        let parts = try [Array(tar[..<split]), [], Array(tar[split...])].enumerated().map { index, bytes in
            try host.root.read(try ArchiveFixture.gzip(host, bytes, name: "part\(index)-\(name).gz"))!
        }
        let path = "/srv/\(name)"
        try host.root.writeAtomically(path, parts.reduce(Data(), +), mode: 0o644)
        return (path, parts)
    }

    @Test func aMultiMemberGzipIsReadWhole() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        let (path, parts) = try multiMember(host, name: "multi.tar.gz")
        #expect(parts.count == 3 && parts.allSatisfy { $0.prefix(2) == Data([0x1f, 0x8b]) }, "three gzip members")
        try ArchiveFixture.run("/usr/bin/tar", ["-tzf", host.root.resolve(path)])   // GNU tar reads it
        let installed = try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal)
        #expect(installed.map(\.name) == ["kubelet", "kube-proxy"])
        #expect(try host.root.read("\(binDir)/kubelet") == Data(kubelet))
        #expect(try host.root.read("\(binDir)/kube-proxy") == Data(kubeProxy))
    }

    /// Bytes after the last member that are not another gzip member, and a file that ends inside its
    /// second member, are refused.
    @Test func trailingGarbageAndATruncatedLaterMemberAreRefused() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        let (path, parts) = try multiMember(host, name: "multi.tar.gz")
        let whole = try host.root.read(path)!
        try host.root.writeAtomically("/srv/garbage.tar.gz", whole + Data("not gzip".utf8), mode: 0o644)
        let garbage = #expect(throws: HostError.self) {
            try BinaryInstaller(root: host.root).install(archive: "/srv/garbage.tar.gz", sha256: nil, replace: false, journal: journal)
        }
        #expect(garbage?.description.contains("is not a valid gzip file") == true)
        try host.root.writeAtomically("/srv/short.tar.gz", whole.prefix(parts[0].count + parts[1].count + parts[2].count / 2), mode: 0o644)
        let short = #expect(throws: HostError.self) {
            try BinaryInstaller(root: host.root).install(archive: "/srv/short.tar.gz", sha256: nil, replace: false, journal: journal)
        }
        #expect(short?.description.contains("ends early") == true)
        #expect(host.root.list(binDir).isEmpty)
    }
}
