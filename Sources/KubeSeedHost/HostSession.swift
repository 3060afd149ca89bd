import Foundation
import KubeSeedCore

/// One command's hold on the host: the host lock, the change journal loaded under it, and the step
/// runners that journal through it. Every change KubeSeed makes to a host is made inside a session, and
/// a session is the only thing that takes the lock:
///
///     try HostSession.with(root, effects: effects) { session in try session.apply(steps) }
///
/// The lock is let go when the body returns or throws.
public final class HostSession {
    public let root: HostRoot
    public let effects: HostEffects
    /// Loaded once the lock is held; everything in the session records through it.
    public let journal: ChangeJournal
    private let lock: HostLock

    /// Where a session's lock and journal are, and how long it waits for the lock.
    public struct Location: Sendable {
        public var lockPath: String
        public var journalPath: String
        /// How long to wait for another KubeSeed command to let the lock go (zero: not at all).
        public var lockWait: Duration

        public init(lockPath: String = HostLock.defaultPath, journalPath: String = Journal.defaultPath, lockWait: Duration = .zero) {
            self.lockPath = lockPath
            self.journalPath = journalPath
            self.lockWait = lockWait
        }
    }

    /// What could not be opened: the lock (held by another command, or no place for it) or the journal.
    /// Nothing on the host has changed when this is thrown.
    public struct OpenError: Error, CustomStringConvertible {
        public enum Part: String, Sendable { case lock, journal }
        public var part: Part
        public var underlying: any Error
        public var description: String { "\(underlying)" }
        /// Whether trying again later may succeed (another command holds the lock).
        public var isRetryable: Bool { (underlying as? HostError)?.isRetryable ?? true }
    }

    private init(root: HostRoot, effects: HostEffects, location: Location) throws(OpenError) {
        self.root = root
        self.effects = effects
        do { lock = try HostLock.acquire(root, path: location.lockPath, waiting: location.lockWait) } catch {
            throw OpenError(part: .lock, underlying: error)
        }
        do { journal = try ChangeJournal(root: root, path: location.journalPath) } catch {
            lock.release()
            throw OpenError(part: .journal, underlying: error)
        }
    }

    /// Runs `body` in a session: the lock taken (waiting `location.lockWait`), the journal loaded. Throws
    /// `OpenError` when either fails, before `body` runs; otherwise what `body` throws.
    public static func with<T>(_ root: HostRoot, effects: HostEffects, at location: Location = Location(),
                               _ body: (HostSession) throws -> T) throws -> T {
        let session = try HostSession(root: root, effects: effects, location: location)
        defer { session.lock.release() }
        return try body(session)
    }

    /// `with` for an asynchronous body: the lock is held across its suspensions.
    public static func with<T>(_ root: HostRoot, effects: HostEffects, at location: Location = Location(),
                               _ body: (HostSession) async throws -> T) async throws -> T {
        let session = try HostSession(root: root, effects: effects, location: location)
        defer { session.lock.release() }
        return try await body(session)
    }

    /// A step runner journaling into this session's journal; its `performed` lists what it did.
    public func runner() -> StepRunner {
        StepRunner(root: root, effects: effects, journal: journal)
    }

    /// Performs `steps` with a new runner (journaled first, one daemon-reload at the end when a step
    /// needs one). Returns what was performed.
    @discardableResult
    public func apply(_ steps: [Step], observed: NodeObservation = NodeObservation()) throws -> [StepRunner.PerformedStep] {
        let runner = runner()
        try runner.apply(steps, observed: observed)
        return runner.performed
    }

    /// Makes what an earlier list left owed (its reload, then its starts in one batch); `pending` keeps
    /// what is still owed when that fails (nothing once the batch ran).
    @discardableResult
    public func settle(_ pending: inout PendingActivation) throws -> [StepRunner.PerformedStep] {
        let runner = runner()
        runner.require(pending)
        defer { pending = runner.pending }
        try runner.apply([], observed: NodeObservation())
        return runner.performed
    }
}
