import Foundation
import Glibc
import KubeSeedCore
import Testing
@testable import KubeSeedHost
import KubeSeedHostFakes

/// Every size an archive declares is bounded before it costs memory or disk. Real: the installer,
/// zlib, the tar reader and the files it writes in a temporary root; archives made here by GNU tar
/// and gzip(1), or tar bytes written here block by block (`ArchiveFixture`) where a header has to lie
/// about its size (a 1 GiB pax header, a 2 GiB kubelet) without the test writing that much. Limits
/// are made small (`ArchiveLimits`) so the bounds are crossed with kilobytes, not gigabytes.
@Suite(.enabled(if: ArchiveFixture.toolsPresent, "needs /usr/bin/tar and /usr/bin/gzip to make test archives"))
struct ArchiveLimitsTests {
    let kubelet = ArchiveFixture.elf(200_000, seed: 1)
    let kubeProxy = ArchiveFixture.elf(70_000, seed: 2)

    /// A header declaring a 1 GiB pax extended header, followed by one block: refused from the header
    /// alone, with the default limits, before any of it is read or held (had the reader tried to read
    /// it, the archive would have ended inside it).
    @Test func aHugePaxHeaderIsRefusedFromItsHeader() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        let tar = ArchiveFixture.tar([
            (ArchiveFixture.header("kubernetes/node/bin/PaxHeaders/kubelet", size: 1 << 30, type: "x"), Array(repeating: 0x41, count: 512)),
        ], end: false)
        let path = try ArchiveFixture.gzip(host, tar, name: "pax-bomb.tar.gz")
        let error = #expect(throws: HostError.self) {
            try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal)
        }
        #expect(error?.code == .file)
        #expect(error?.description.contains("pax extended header of 1073741824 bytes (kubernetes/node/bin/PaxHeaders/kubelet)") == true)
        #expect(error?.description.contains("at most \(ArchiveLimits.defaultMetadataBytes) bytes") == true)
        #expect(host.root.list(binDir).isEmpty)
    }

    /// GNU tar's own pax format (a long neighbour's path and a 2000-byte comment in every member's
    /// extended header): read and installed with the default limits; refused, naming the header,
    /// when the bound is below the header's size.
    @Test func paxHeadersFromGNUTarAreReadWithinTheBound() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        let long = "kubernetes/node/" + String(repeating: "p", count: 200) + "/LICENSES"
        let path = try ArchiveFixture.gnuTar(host, ["kubernetes/node/bin/kubelet": kubelet, "kubernetes/node/bin/kube-proxy": kubeProxy,
                                                    long: Array("text".utf8)],
                                             options: ["--format=pax", "--pax-option=comment:=" + String(repeating: "c", count: 2000)])
        let installed = try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal)
        #expect(installed.map(\.name) == ["kubelet", "kube-proxy"])
        #expect(try host.root.read("\(binDir)/kubelet") == Data(kubelet))
        #expect(host.root.list(binDir).sorted() == ["kube-proxy", "kubelet"])

        let (other, otherJournal, otherBin) = try ArchiveFixture.setUp()
        let copy = try ArchiveFixture.copy(host, path, to: other)
        let error = #expect(throws: HostError.self) {
            try BinaryInstaller(root: other.root).install(archive: copy, sha256: nil, replace: false, journal: otherJournal,
                                                         limits: ArchiveLimits(metadataBytes: 1000))
        }
        #expect(error?.description.contains("has a pax extended header of") == true)
        #expect(error?.description.contains("PaxHeaders") == true, "names the header")
        #expect(other.root.list(otherBin).isEmpty)
    }

    /// GNU tar's long-name entries (`././@LongLink`) are bounded the same way.
    @Test func gnuLongNamesAreBounded() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        let long = "kubernetes/node/" + String(repeating: "l", count: 150) + "/" + String(repeating: "m", count: 150) + "/LICENSES"
        let path = try ArchiveFixture.gnuTar(host, ["kubernetes/node/bin/kubelet": kubelet, "kubernetes/node/bin/kube-proxy": kubeProxy,
                                                    long: Array("text".utf8)], options: ["--format=gnu"])
        let error = #expect(throws: HostError.self) {
            try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal,
                                                         limits: ArchiveLimits(metadataBytes: 200))
        }
        #expect(error?.description.contains("has a GNU long-name entry of") == true)
        #expect(error?.description.contains("at most 200 bytes") == true)
        #expect(host.root.list(binDir).isEmpty)
    }

    /// A sparse, highly compressible kubelet (ELF magic then 4 MiB of zeros, a few KB gzipped) past a
    /// 1 MiB member bound: refused from its header, and nothing lands in binDir, neither the binary
    /// nor a temporary; the same archive installs with the default bound.
    @Test func aMemberPastTheBoundIsRefusedBeforeItLands() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        let path = try ArchiveFixture.gnuTar(host, ["kubernetes/node/bin/kube-proxy": kubeProxy],
                                             sparse: ["kubernetes/node/bin/kubelet": 4 << 20])
        #expect(try host.root.read(path)!.count < 100_000, "highly compressible")
        for unnamed in [true, false] {
            var installer = BinaryInstaller(root: host.root)
            installer.unnamedTemporaries = unnamed
            let error = #expect(throws: HostError.self) {
                try installer.install(archive: path, sha256: nil, replace: false, journal: journal, limits: ArchiveLimits(memberBytes: 1 << 20))
            }
            #expect(error?.description.contains("kubernetes/node/bin/kubelet in \(path) is \(4 << 20) bytes") == true)
            #expect(error?.description.contains("at most \(1 << 20) bytes") == true)
            #expect(host.root.list(binDir).isEmpty, "no binary and no temporary (unnamed temporaries: \(unnamed))")
        }
        let installed = try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal)
        #expect(installed.first { $0.name == "kubelet" }?.bytes == 4 << 20)
    }

    /// Written block by block: kube-proxy (whole, valid) then a kubelet whose header claims 2 GiB and
    /// whose data is one block. With the default limits the kubelet is refused from its header; the
    /// kube-proxy already extracted is removed, with dot-named and with unnamed temporaries.
    @Test func aTwoGiBKubeletIsRefusedAndWhatWasExtractedIsRemoved() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        let tar = ArchiveFixture.tar([
            (ArchiveFixture.header("kubernetes/node/bin/kube-proxy", size: kubeProxy.count), kubeProxy),
            (ArchiveFixture.header("kubernetes/node/bin/kubelet", size: 2 << 30), Array(kubelet.prefix(512))),
        ], end: false)
        let path = try ArchiveFixture.gzip(host, tar, name: "big.tar.gz")
        for unnamed in [true, false] {
            var installer = BinaryInstaller(root: host.root)
            installer.unnamedTemporaries = unnamed
            let error = #expect(throws: HostError.self) {
                try installer.install(archive: path, sha256: nil, replace: false, journal: journal)
            }
            #expect(error?.description.contains("kubernetes/node/bin/kubelet in \(path) is \(2 << 30) bytes") == true)
            #expect(host.root.list(binDir).isEmpty, "unnamed temporaries: \(unnamed)")
        }
    }

    /// GNU tar's base-256 size field (used from 8 GiB up) is read as a size, not as zero: a kubelet
    /// claiming 9 GiB that way is refused as too big instead of being taken for an empty file.
    @Test func baseTwoFiftySixSizesAreRead() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        var field = [UInt8](repeating: 0, count: 12)
        field[0] = 0x80
        var size = 9 << 30
        for index in (1..<12).reversed() { field[index] = UInt8(size & 0xff); size >>= 8 }
        let header = ArchiveFixture.header("kubernetes/node/bin/kubelet", size: 0, sizeField: field)
        #expect(try TarHeader.parse(header)?.size == 9 << 30)
        let path = try ArchiveFixture.gzip(host, ArchiveFixture.tar([(header, Array(kubelet.prefix(512)))], end: false), name: "b256.tar.gz")
        let error = #expect(throws: HostError.self) {
            try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal)
        }
        #expect(error?.description.contains("is \(9 << 30) bytes") == true)
        #expect(host.root.list(binDir).isEmpty)
        var negative = field
        negative[0] = 0xff
        #expect(throws: TarError.self) { try TarHeader.parse(ArchiveFixture.header("x", size: 0, sizeField: negative)) }
    }

    /// A 3 MiB member nobody wants (zeros, skipped without being held) pushes the total inflated past
    /// a 1 MiB bound: refused as a possible gzip bomb, nothing installed; with the default bound the
    /// same archive installs.
    @Test func inflatingPastTheTotalBoundIsRefused() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        let path = try ArchiveFixture.gnuTar(host, ["kubernetes/node/bin/kubelet": kubelet, "kubernetes/node/bin/kube-proxy": kubeProxy],
                                             sparse: ["kubernetes/node/LICENSES": 3 << 20])
        let error = #expect(throws: HostError.self) {
            try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal,
                                                         limits: ArchiveLimits(decompressedBytes: 1 << 20))
        }
        #expect(error?.description.contains("inflates to more than \(1 << 20) bytes") == true)
        #expect(error?.description.contains("gzip bomb") == true)
        #expect(host.root.list(binDir).isEmpty)
        #expect(try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal).count == 2)
    }

    /// The ELF check is made on a member's first four bytes as they stream past: a "kubelet" that
    /// starts with `#!/bin/sh` and claims 512 MiB, with one block of data, is refused as not ELF (had
    /// the reader gone on, the archive would have ended inside it).
    @Test func theELFCheckNeedsOnlyTheFirstBytes() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        let script = Array("#!/bin/sh\necho hi\n".utf8) + Array(repeating: 0x20, count: 494)
        let tar = ArchiveFixture.tar([(ArchiveFixture.header("kubernetes/node/bin/kubelet", size: 512 << 20), script)], end: false)
        let path = try ArchiveFixture.gzip(host, tar, name: "script.tar.gz")
        let error = #expect(throws: HostError.self) {
            try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal)
        }
        #expect(error?.description.contains("kubelet in \(path) is not an ELF executable") == true)
        #expect(host.root.list(binDir).isEmpty)
    }

    /// An installed binary of the same size but other bytes is told apart (streamed SHA-256, not the
    /// size alone); one with the same bytes is left alone.
    @Test func anInstalledBinaryIsComparedByContent() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        let path = try ArchiveFixture.gnuTar(host, ["kubernetes/node/bin/kubelet": kubelet, "kubernetes/node/bin/kube-proxy": kubeProxy])
        var sameSize = kubelet
        sameSize[sameSize.count - 1] ^= 0xff
        try host.root.writeAtomically("\(binDir)/kubelet", Data(sameSize), mode: 0o755)
        try host.root.writeAtomically("\(binDir)/kube-proxy", Data(kubeProxy), mode: 0o755)
        let error = #expect(throws: HostError.self) {
            try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal)
        }
        #expect(error?.description.contains("\(binDir)/kubelet exists and differs") == true)
        let installed = try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: true, journal: journal)
        #expect(installed.map(\.changed) == [true, false])
        #expect(try host.root.read("\(binDir)/kubelet") == Data(kubelet))
        #expect(host.root.list(binDir).sorted() == ["kube-proxy", "kubelet"])
    }

    /// A dot-named temporary left by an install that was killed is removed by the next install; a
    /// temporary being written has no name in binDir where the filesystem has `O_TMPFILE`, and gets
    /// its content and mode 0755 when installed.
    @Test func temporariesLeaveNothingBehind() throws {
        let (host, journal, binDir) = try ArchiveFixture.setUp()
        try host.root.writeAtomically("\(binDir)/.kubelet.kubeseed-999999", Data("half a kubelet".utf8), mode: 0o600)
        let path = try ArchiveFixture.gnuTar(host, ["kubernetes/node/bin/kubelet": kubelet, "kubernetes/node/bin/kube-proxy": kubeProxy])
        _ = try BinaryInstaller(root: host.root).install(archive: path, sha256: nil, replace: false, journal: journal)
        #expect(host.root.list(binDir).sorted() == ["kube-proxy", "kubelet"])

        let temporary = try ArchiveTemporary(root: host.root, directory: binDir, name: "kube-scheduler")
        try kubelet.withUnsafeBytes { try temporary.write($0) }
        #expect(host.root.list(binDir).contains { $0.contains("kube-scheduler") } == (temporary.namedPath != nil))
        try temporary.finish()
        try temporary.install()
        temporary.discard()
        #expect(try host.root.read("\(binDir)/kube-scheduler") == Data(kubelet))
        #expect(host.root.mode("\(binDir)/kube-scheduler") == 0o755)
        #expect(host.root.list(binDir).sorted() == ["kube-proxy", "kube-scheduler", "kubelet"])
    }

    /// pax records are read by their lengths: a value may hold a newline; a length that does not
    /// match the data is refused.
    @Test func paxRecordsAreReadByLength() throws {
        func record(_ text: String) -> String {
            var length = text.utf8.count + 3
            while "\(length) \(text)\n".utf8.count != length { length += 1 }
            return "\(length) \(text)\n"
        }
        let data = Array((record("path=kubernetes/node/bin/kubelet") + record("comment=two\nlines") + record("size=12")).utf8)
        let records = try TarHeader.paxRecords(data)
        #expect(records == ["path": "kubernetes/node/bin/kubelet", "comment": "two\nlines", "size": "12"])
        #expect(throws: TarError.self) { try TarHeader.paxRecords(Array("99 path=x\n".utf8)) }
        #expect(throws: TarError.self) { try TarHeader.paxRecords(Array("5 path=x\n".utf8)) }
    }
}

/// Test archives: GNU tar and gzip(1) run on files staged in the temporary root, or tar blocks
/// written here when a header has to say something GNU tar would not write.
enum ArchiveFixture {
    static let toolsPresent = FileManager.default.isExecutableFile(atPath: "/usr/bin/tar")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/gzip")

    /// A fake binary: the ELF magic number and filler.
    static func elf(_ size: Int, seed: UInt8) -> [UInt8] {
        [0x7f, 0x45, 0x4c, 0x46] + (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    /// A temporary root with /opt/k8s/bin and its change journal.
    static func setUp() throws -> (TemporaryHost, ChangeJournal, String) {
        let host = try TemporaryHost()
        try host.root.makeDirectory("/opt/k8s", mode: 0o755)
        try host.root.makeDirectory("/opt/k8s/bin", mode: 0o755)
        return (host, try ChangeJournal(root: host.root), "/opt/k8s/bin")
    }

    static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TarError("\(tool) \(arguments.prefix(3)) exited \(process.terminationStatus)") }
    }

    /// Stages `members` (path → bytes) and `sparse` members (path → size: the ELF magic, then a hole)
    /// under the root, and archives them with GNU tar, gzipped (`-z`) unless `compress` is false.
    /// Returns the archive's host path.
    static func gnuTar(_ host: TemporaryHost, _ members: [String: [UInt8]], sparse: [String: Int] = [:], options: [String] = [],
                       compress: Bool = true, name: String = "k8s.tar.gz") throws -> String {
        let staging = host.root.resolve("/srv/staging-\(name)")
        for (path, bytes) in members {
            let url = URL(fileURLWithPath: staging + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        for (path, size) in sparse {
            let url = URL(fileURLWithPath: staging + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data([0x7f, 0x45, 0x4c, 0x46]).write(to: url)
            guard truncate(url.path, off_t(size)) == 0 else { throw TarError("truncate \(url.path)") }
        }
        try FileManager.default.createDirectory(atPath: host.root.resolve("/srv"), withIntermediateDirectories: true)
        try run("/usr/bin/tar", options + [compress ? "-czf" : "-cf", host.root.resolve("/srv/\(name)"), "-C", staging, "kubernetes"])
        return "/srv/\(name)"
    }

    /// gzip(1)'s output for `bytes`, as a file in the root; returns its host path.
    @discardableResult
    static func gzip(_ host: TemporaryHost, _ bytes: [UInt8], name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: host.root.resolve("/srv"), withIntermediateDirectories: true)
        let plain = String(name.dropLast(3))
        try Data(bytes).write(to: URL(fileURLWithPath: host.root.resolve("/srv/\(plain)")))
        try run("/usr/bin/gzip", ["-n", "-f", host.root.resolve("/srv/\(plain)")])
        return "/srv/\(name)"
    }

    static func copy(_ from: TemporaryHost, _ path: String, to: TemporaryHost) throws -> String {
        try FileManager.default.createDirectory(atPath: to.root.resolve("/srv"), withIntermediateDirectories: true)
        try to.root.writeAtomically(path, try from.root.read(path)!, mode: 0o644)
        return path
    }

    /// A ustar header block; `sizeField` replaces the octal size (base-256 sizes).
    static func header(_ name: String, size: Int, type: Character = "0", sizeField: [UInt8]? = nil) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int) { for (index, byte) in bytes.enumerated() { block[offset + index] = byte } }
        func octal(_ value: Int, digits: Int) -> [UInt8] {
            let text = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, digits - text.count)) + text).utf8) + [0]
        }
        put(Array(name.utf8.prefix(100)), at: 0)
        put(octal(0o755, digits: 7), at: 100)
        put(octal(0, digits: 7), at: 108)
        put(octal(0, digits: 7), at: 116)
        put(sizeField ?? octal(size, digits: 11), at: 124)
        put(octal(0, digits: 11), at: 136)
        block[156] = type.asciiValue!
        put(Array("ustar\0".utf8) + Array("00".utf8), at: 257)
        let sum = block.enumerated().reduce(0) { $0 + ((148..<156).contains($1.offset) ? 32 : Int($1.element)) }
        put(octal(sum, digits: 6) + [0x20], at: 148)
        return block
    }

    /// Entries, each padded to 512 bytes (data shorter than the header says is written as is), then
    /// the two end blocks when `end`.
    static func tar(_ entries: [(header: [UInt8], data: [UInt8])], end: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = []
        for entry in entries {
            bytes += entry.header + entry.data
            bytes += [UInt8](repeating: 0, count: TarHeader.padding(entry.data.count))
        }
        if end { bytes += [UInt8](repeating: 0, count: 1024) }
        return bytes
    }
}
