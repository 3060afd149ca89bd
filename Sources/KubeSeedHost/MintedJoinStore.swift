import Foundation
import KubeSeedCore

/// The address book's store (`MintedJoin.path`, 0600): one entry per join file minted here. Before the
/// store existed, the join files in `legacyDirectory` were the book: while there is no store they are
/// read instead (each on its own), and the first save takes them in.
public struct MintedJoinStore {
    public let root: HostRoot
    public var path = MintedJoin.path
    public var legacyDirectory = "/var/lib/kubeseed/join-files"

    public init(root: HostRoot = HostRoot()) { self.root = root }

    /// The entries, and a line for each one that could not be read (left out; the others stand).
    public func load() throws -> (entries: [MintedJoin], problems: [String]) {
        if let data = try root.read(path) {
            let (entries, problems) = MintedJoin.decode(data)
            return (entries, problems.map { "\(path): \($0)" })
        }
        var entries: [MintedJoin] = []
        var problems: [String] = []
        for name in root.list(legacyDirectory).sorted() where name.hasSuffix(".yaml") {
            let file = "\(legacyDirectory)/\(name)"
            do {
                guard let text = try root.readText(file) else { continue }
                // An expired token does not make the node's IP less true.
                let join = try JoinFile.parse(text, file: file, tokenExpiryMatters: false)
                guard join.nodeName != nil else { continue }
                entries = MintedJoin.adding(MintedJoin(join: join, minted: root.modifiedMicroseconds(file).map { Date(timeIntervalSince1970: Double($0) / 1_000_000) } ?? Date(timeIntervalSince1970: 0)), to: entries).entries
            } catch {
                problems.append("\(file): \(error)")
            }
        }
        return (entries, problems)
    }

    /// The entries, to change and save back. Refused while the store holds an entry that does not read:
    /// a save would drop it (and with it a node's IP). Join files of the directory read before the store
    /// existed that do not read are returned, to be reported: they are not taken in.
    public func loadForUpdate() throws -> (entries: [MintedJoin], notTakenIn: [String]) {
        let (entries, problems) = try load()
        guard problems.isEmpty || !root.exists(path) else {
            throw HostError(.file, "\(path) holds entries that do not read: \(problems.joined(separator: "; "))",
                            cause: "fix or remove them by hand, then run this again (saving now would drop them)")
        }
        return (entries, problems)
    }

    /// Saves `entries` atomically (0600), journaled: `reset` removes the store or gives back the one before.
    public func save(_ entries: [MintedJoin], journal: ChangeJournal) throws {
        let data = MintedJoin.encode(entries)
        try journal.recordWrite(path, data)
        try root.writeAtomically(path, data, mode: 0o600)
    }

    /// The SHA-256 of the store as it is now (the legacy directory's listing when there is none): the
    /// approver reloads its book when this changes.
    public func fingerprint() -> String {
        if let data = try? root.read(path) { return ChangeJournal.sha256(data) }
        let listing = root.list(legacyDirectory).sorted().map { name -> String in
            "\(name) \(((try? root.read("\(legacyDirectory)/\(name)")) ?? nil).map(ChangeJournal.sha256) ?? "-")"
        }
        return ChangeJournal.sha256(Data(listing.joined(separator: "\n").utf8))
    }
}
