import Foundation

/// One change KubeSeed made, with what was there before, so `reset` can put it back.
public enum JournalRecord: Codable, Sendable, Equatable {
    /// `previous` `nil`: the file did not exist.
    case file(path: String, previous: Data?, previousMode: UInt16?)
    /// `previousTarget` `nil`: there was no link (nor file) at `path`.
    case symlink(path: String, previousTarget: String?)
    case sysctl(key: String, previous: String)
    case moduleLoaded(String)
    case swapActive(String)
    case unitMasked(String)
    case selinuxEnforce(previous: String)
    case timezone(previous: String)
    case localRTC(previous: Bool)
    case unitEnabled(String)
    case unitStarted(String)
    case unitDisabled(String)
    case unitStopped(String)
    case directoryCreated(String)
    /// KubeSeed wrote (or is about to write) content with this SHA-256 (hex) at `path`. `reset` restores
    /// or removes a file only while it still holds one of these; a file changed since is left with a report.
    case fileWritten(path: String, sha256: String)
    /// KubeSeed made (or is about to make) `path` a link to `target`. `reset` removes a link only while it
    /// still points there: a binary a CNI installed over it since is left.
    case linkMade(path: String, target: String)
    /// `seed join` is about to add this host to the etcd cluster as the member on `peerURL`, through the
    /// peers at `via` (client URLs). Written before the add: a join that stops between the add and the
    /// unit leaves a learner that blocks every later join, and `seed-agent reset` removes it by this.
    case etcdMemberAdded(peerURL: String, via: [String])
    /// The agent is about to import this image (a reference containerd did not have) from the images
    /// directory; `reset` removes it from containerd.
    case imageImported(String)

    /// What the record is about. The first record for a key holds the original value; later
    /// attempts (an interrupted apply run again) must not overwrite it.
    public var key: String {
        switch self {
        case .file(let path, _, _): return "file:\(path)"
        case .symlink(let path, _): return "link:\(path)"
        case .sysctl(let key, _): return "sysctl:\(key)"
        case .moduleLoaded(let name): return "module:\(name)"
        case .swapActive(let path): return "swap:\(path)"
        case .unitMasked(let unit): return "mask:\(unit)"
        case .selinuxEnforce: return "selinux-enforce"
        case .timezone: return "timezone"
        case .localRTC: return "local-rtc"
        case .unitEnabled(let unit), .unitDisabled(let unit): return "enablement:\(unit)"
        case .unitStarted(let unit), .unitStopped(let unit): return "activity:\(unit)"
        case .directoryCreated(let path): return "dir:\(path)"
        case .fileWritten(let path, let sha256): return "written:\(path):\(sha256)"
        case .linkMade(let path, let target): return "linked:\(path):\(target)"
        case .etcdMemberAdded(let peerURL, _): return "etcd-member:\(peerURL)"
        case .imageImported(let ref): return "image:\(ref)"
        }
    }
}

/// The write-ahead change journal: a record is saved before its change is made.
public struct Journal: Codable, Sendable, Equatable {
    public static let defaultPath = "/var/lib/kubeseed/journal.json"
    public var version = 1
    public private(set) var records: [JournalRecord] = []

    public init(records: [JournalRecord] = []) { self.records = records }

    /// Adds `record` unless one with the same key is already there. Returns whether it was added.
    @discardableResult
    public mutating func add(_ record: JournalRecord) -> Bool {
        add([record]) == 1
    }

    /// Adds each of `new` whose key is not there yet (the first record for a key keeps the original
    /// value), the keys there gathered once. Returns how many were added.
    @discardableResult
    public mutating func add(_ new: [JournalRecord]) -> Int {
        var keys = Set(records.map(\.key))
        let added = new.filter { keys.insert($0.key).inserted }
        records += added
        return added.count
    }

    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Encoding a value made only of strings, data and integers cannot fail.
        return (try? encoder.encode(self)) ?? Data()
    }

    public static func decode(_ data: Data, file: String) throws -> Journal {
        do {
            return try JSONDecoder().decode(Journal.self, from: data)
        } catch {
            throw ConfigError(.syntax, file: file, "the change journal is unreadable (\(error)); it is needed to reset — inspect it before removing it")
        }
    }
}
