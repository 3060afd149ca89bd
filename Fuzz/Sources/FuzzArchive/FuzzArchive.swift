import Crypto
import Foundation
import FuzzSupport
import Glibc
import KubeSeedCore
import KubeSeedHost

/// The .tar.gz path of `seed` / `seed-agent`: `BinaryInstaller.install` (KubeSeedHost's public entry:
/// gzip through zlib, the tar reader, SHA-256, the ELF check, the move into place) on the input written
/// to a file in a temporary HostRoot (in /dev/shm, a tmpfs, so fsync costs nothing; /tmp otherwise).
///
/// The first input byte is a mode:
///   bit 0  clear: the rest is the .tar.gz file as it is (fuzzes zlib's input handling too);
///          set: the rest is a tar stream; each header block gets its checksum fixed and the whole is
///          wrapped in gzip (stored deflate blocks, right CRC and length), so the fuzzer works on tar.
///   bit 1  the control-plane binaries are wanted instead of the node's.
///   bit 2  the file's real SHA-256 is passed as the expected one (bit 3: in upper case).
/// Findings: a trap, a memory error, a hang or blow-up, an error that is not a `HostError`, a failed
/// install that leaves anything in the bin directory, a successful one that leaves anything but the
/// wanted binaries (0755, ELF), and a file descriptor leak.
@main enum FuzzArchiveMain {
    static func main() { Fuzz.main { data, size in fuzz(data ?? Fuzz.empty, size) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let mode = data[0]
    var file = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if mode & 1 != 0 {
        var offset = 0
        // Fix the checksum of each block a reader takes for a header (as far as the sizes say).
        while offset + 512 <= file.count {
            TarChecksum.fix(&file, at: offset)
            guard let header = try? TarHeader.parse(Array(file[offset..<offset + 512])), header.size >= 0 else { break }
            offset += 512
            guard header.size <= file.count - offset else { break }
            offset += header.size + TarHeader.padding(header.size)
        }
        file = StoredGzip.wrap(file)
    }
    let wanted = mode & 2 != 0 ? KubernetesArchive.controlPlaneBinaries : KubernetesArchive.nodeBinaries
    var expected: String?
    if mode & 4 != 0 {
        let digest = SHA256.hash(data: file).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        expected = mode & 8 != 0 ? digest.uppercased() : digest
    }
    sandbox.run(file, expected: expected, wanted: wanted)
    return 0
}

let sandbox = Sandbox()

final class Sandbox: Sendable {
    let root: HostRoot
    let binDir = NodePaths.binDir
    let archive = "/srv/archive.tar.gz"
    /// The lowest free descriptor after setting up: it must stay about there.
    let freeDescriptor: Int32

    init() {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        let path = "\(base)/kubeseed-fuzz-archive-\(getpid())"
        root = HostRoot(path: path)
        for dir in ["", "/opt", "/opt/k8s", NodePaths.binDir, "/var", "/var/lib", "/var/lib/kubeseed", "/srv"] {
            mkdir(path + dir, 0o755)
        }
        guard root.isDirectory(binDir), root.isDirectory("/srv") else {
            Fuzz.finding("archive", "cannot set up the temporary host root \(path)")
        }
        let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        close(fd)
        freeDescriptor = fd
        atexit { sandbox.remove() }
    }

    func run(_ file: [UInt8], expected: String?, wanted: [String]) {
        // Each input starts from an empty bin directory and no journal.
        for name in entries(binDir) { unlink(root.resolve("\(binDir)/\(name)")) }
        unlink(root.resolve(Journal.defaultPath))
        writeArchive(file)
        let journal: ChangeJournal
        do { journal = try ChangeJournal(root: root) } catch { Fuzz.finding("archive", "no journal: \(error)") }
        do {
            let installed = try BinaryInstaller(root: root).install(archive: archive, sha256: expected, wanted: wanted,
                                                                    replace: true, journal: journal)
            guard Set(installed.map(\.name)) == Set(wanted) else {
                Fuzz.finding("archive", "installed \(installed.map(\.name)), wanted \(wanted)")
            }
            let left = entries(binDir)
            guard Set(left) == Set(wanted) else { Fuzz.finding("archive", "after an install \(binDir) holds \(left.sorted())") }
            for name in wanted {
                let path = "\(binDir)/\(name)"
                guard root.mode(path) == 0o755 else { Fuzz.finding("archive", "\(path) installed with mode \(String(root.mode(path) ?? 0, radix: 8))") }
                guard let head = try? root.read(path)?.prefix(4), head.elementsEqual([0x7f, 0x45, 0x4c, 0x46]) else {
                    Fuzz.finding("archive", "\(path) installed without the ELF magic")
                }
            }
        } catch is HostError {
            let left = entries(binDir)
            guard left.isEmpty else { Fuzz.finding("archive", "a refused archive left \(left.sorted()) in \(binDir)") }
        } catch {
            Fuzz.unexpected("archive", error)
        }
        let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        close(fd)
        guard fd <= freeDescriptor + 8 else {
            Fuzz.finding("archive", "file descriptors leak: the lowest free one is \(fd), it was \(freeDescriptor)")
        }
    }

    private func writeArchive(_ file: [UInt8]) {
        let fd = open(root.resolve(archive), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { Fuzz.finding("archive", "cannot write \(root.resolve(archive))") }
        defer { close(fd) }
        var offset = 0
        file.withUnsafeBytes { raw in
            while offset < raw.count {
                let count = write(fd, raw.baseAddress! + offset, raw.count - offset)
                guard count > 0 else { Fuzz.finding("archive", "cannot write \(root.resolve(archive))") }
                offset += count
            }
        }
    }

    private func entries(_ hostPath: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: root.resolve(hostPath))) ?? []
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: root.path)
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
