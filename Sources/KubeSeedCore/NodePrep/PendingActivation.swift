/// systemd work a list of steps left for a later one: a daemon-reload, and the starts and restarts that
/// must follow it. The later list makes them with its own: one reload, and one batch of jobs.
public struct PendingActivation: Sendable, Equatable {
    public var reload: Bool
    /// `.startUnit` and `.restartUnit` steps, in the order they were owed.
    public var jobs: [Step]

    public init(reload: Bool = false, jobs: [Step] = []) {
        self.reload = reload
        self.jobs = jobs
    }

    public var isEmpty: Bool { !reload && jobs.isEmpty }

    /// This and `other`: a reload if either owes one, and both lists of jobs.
    public func adding(_ other: PendingActivation) -> PendingActivation {
        PendingActivation(reload: reload || other.reload, jobs: jobs + other.jobs.filter { !jobs.contains($0) })
    }

    /// Splits `steps` into what runs now and what is owed: the daemon-reload and every start or restart.
    public static func deferring(_ steps: [Step]) -> (now: [Step], owed: PendingActivation) {
        (steps.filter { $0 != .reloadSystemd && !$0.isUnitJob },
         PendingActivation(reload: steps.contains(.reloadSystemd), jobs: steps.filter(\.isUnitJob)))
    }
}

extension Step {
    /// A start or a restart: a job systemd runs, which a later list may make (`PendingActivation`).
    public var isUnitJob: Bool {
        switch self {
        case .startUnit, .restartUnit: return true
        default: return false
        }
    }
}
