import Foundation

/// What a file was when it was last read whole: a file whose identity is unchanged has not been
/// written since (any write, rename or chmod moves its change time, which no one can set back).
public struct FileIdentity: Codable, Sendable, Equatable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    public var modified: Int64
    public var modifiedNanoseconds: Int64
    public var changed: Int64
    public var changedNanoseconds: Int64

    /// When the inode last changed, in µs since the epoch: set by a write, a rename into place (dpkg,
    /// KubeSeed's installs) or a mode change, and never by a tool preserving times (tar, cp -p).
    public var changedMicroseconds: UInt64 { UInt64(max(0, changed)) * 1_000_000 + UInt64(max(0, changedNanoseconds)) / 1000 }

    public init(device: UInt64, inode: UInt64, size: Int64, modified: Int64, modifiedNanoseconds: Int64, changed: Int64, changedNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modified = modified
        self.modifiedNanoseconds = modifiedNanoseconds
        self.changed = changed
        self.changedNanoseconds = changedNanoseconds
    }
}

/// The record of the last install (or check) of Kubernetes binaries from a release archive, so that
/// a second run with the same archive, untouched, and binaries untouched since, reads nothing (a
/// server archive is 300 MB to hash and inflate). Anything that differs means the whole check.
public struct InstalledBinaries: Codable, Sendable, Equatable {
    public static let path = "/var/lib/kubeseed/installed-binaries.json"

    public struct Binary: Codable, Sendable, Equatable {
        public var path: String
        public var bytes: Int
        public var identity: FileIdentity

        public init(path: String, bytes: Int, identity: FileIdentity) {
            self.path = path
            self.bytes = bytes
            self.identity = identity
        }
    }

    public var archive: String
    public var archiveIdentity: FileIdentity
    /// The archive's SHA-256 (hex), when the install checked one.
    public var sha256: String?
    /// The Kubernetes release the binaries were checked to be, when they were.
    public var version: String?
    public var binaries: [String: Binary]

    public init(archive: String, archiveIdentity: FileIdentity, sha256: String?, version: String?, binaries: [String: Binary]) {
        self.archive = archive
        self.archiveIdentity = archiveIdentity
        self.sha256 = sha256
        self.version = version
        self.binaries = binaries
    }

    /// Whether this record answers an install of `wanted` from `archive` without reading anything:
    /// the same archive file, unchanged; the same expected SHA-256 and version, or none asked for;
    /// every wanted binary recorded at `target(name)` and unchanged (`identity(path)`).
    public func covers(archive: String, archiveIdentity: FileIdentity?, sha256: String?, version: KubernetesVersion?,
                       wanted: [String], target: (String) -> String, identity: (String) -> FileIdentity?) -> Bool {
        guard archive == self.archive, archiveIdentity == self.archiveIdentity else { return false }
        if let sha256, sha256 != self.sha256 { return false }
        if let version, version.description != self.version { return false }
        return wanted.allSatisfy { name in
            guard let binary = binaries[name], binary.path == target(name) else { return false }
            return identity(binary.path) == binary.identity
        }
    }

    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(self)).map { $0 + Data("\n".utf8) } ?? Data()
    }

    /// `nil` for anything that does not decode: the record is only a shortcut.
    public static func decode(_ data: Data) -> InstalledBinaries? {
        try? JSONDecoder().decode(InstalledBinaries.self, from: data)
    }
}
