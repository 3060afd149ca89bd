import Foundation
import KubeSeedCore

/// The bootstrap tokens `seed join-file` minted (`TokenRecord.path`, 0600: it holds their secrets).
public struct TokenStore {
    public let root: HostRoot
    public var path = TokenRecord.path

    public init(root: HostRoot = HostRoot()) { self.root = root }

    public func load() throws -> [TokenRecord] {
        guard let data = try root.read(path) else { return [] }
        do { return try TokenRecord.decode(data) } catch {
            throw HostError(.file, "\(path) is not a token list KubeSeed wrote", cause: "\(error)")
        }
    }

    /// Saves the list atomically (0600). Only the file's first creation is journaled, so `reset`
    /// removes it without the journal ever holding a copy of the secrets.
    public func save(_ records: [TokenRecord], journal: ChangeJournal) throws {
        let data = TokenRecord.encode(records)
        // Only the hash of each version goes into the journal, never a copy of the secrets.
        try journal.recordWrite(path, data, previous: .existence)
        try root.writeAtomically(path, data, mode: 0o600)
    }
}
