/// How long the control plane waits before it decides a peer is gone: etcd's heartbeat and election
/// timeout, and the lease kube-controller-manager and kube-scheduler hold to be the one that works.
/// The defaults are the guide's (etcd 250 / 2000 ms) and upstream's (leases 15 / 10 / 2 s). Masters
/// that are slow or far apart raise them: a member that misses heartbeats calls elections, and a
/// leader that cannot renew its lease in time exits and starts again.
///
/// ```yaml
/// timing:
///   etcdHeartbeatInterval: 250    # ms
///   etcdElectionTimeout: 2000     # ms: 5 to 50 heartbeats, at most 50000
///   leaderElection:               # kube-controller-manager and kube-scheduler, seconds
///     leaseDuration: 15
///     renewDeadline: 10
///     retryPeriod: 2
/// ```
public struct ControlPlaneTiming: Sendable, Equatable {
    public var etcdHeartbeatMilliseconds = 250
    public var etcdElectionMilliseconds = 2000
    public var leaseDurationSeconds = Self.upstreamLease.duration
    public var renewDeadlineSeconds = Self.upstreamLease.renewDeadline
    public var retryPeriodSeconds = Self.upstreamLease.retryPeriod

    public init() {}

    /// Upstream's leader-election defaults, also KubeSeed's: flags and fields are written only for values that differ.
    static let upstreamLease = (duration: 15, renewDeadline: 10, retryPeriod: 2)

    /// The leader-election values, each with its field, kube-controller-manager's flag and upstream's default.
    var leaseValues: [(field: String, flag: String, seconds: Int, upstream: Int)] {
        [("leaseDuration", "--leader-elect-lease-duration", leaseDurationSeconds, Self.upstreamLease.duration),
         ("renewDeadline", "--leader-elect-renew-deadline", renewDeadlineSeconds, Self.upstreamLease.renewDeadline),
         ("retryPeriod", "--leader-elect-retry-period", retryPeriodSeconds, Self.upstreamLease.retryPeriod)]
    }

    /// A rule a value breaks, with the field it is reported on.
    public struct Problem: Error, Equatable, Sendable {
        public var field: String
        public var message: String
    }

    /// What etcd and client-go refuse at start: an election timeout under 5 heartbeats or over 50 s
    /// (etcd), a renew deadline not under the lease or not over 1.2 retry periods (client-go).
    public func problem() -> Problem? {
        if !(10...5000).contains(etcdHeartbeatMilliseconds) {
            return Problem(field: "timing.etcdHeartbeatInterval", message: "\(etcdHeartbeatMilliseconds) ms is not from 10 to 5000 ms")
        }
        if !(5 * etcdHeartbeatMilliseconds...50_000).contains(etcdElectionMilliseconds) {
            return Problem(field: "timing.etcdElectionTimeout",
                           message: "\(etcdElectionMilliseconds) ms is not from 5 heartbeats (\(5 * etcdHeartbeatMilliseconds) ms) to 50000 ms")
        }
        if !(1...3600).contains(retryPeriodSeconds) {
            return Problem(field: "timing.leaderElection.retryPeriod", message: "\(retryPeriodSeconds) s is not from 1 to 3600 s")
        }
        if renewDeadlineSeconds * 10 <= retryPeriodSeconds * 12 {
            return Problem(field: "timing.leaderElection.renewDeadline",
                           message: "\(renewDeadlineSeconds) s must be more than 1.2 retry periods (\(retryPeriodSeconds) s)")
        }
        if leaseDurationSeconds <= renewDeadlineSeconds || leaseDurationSeconds > 3600 {
            return Problem(field: "timing.leaderElection.leaseDuration",
                           message: "\(leaseDurationSeconds) s must be more than the renew deadline (\(renewDeadlineSeconds) s) and at most 3600 s")
        }
        return nil
    }

    /// etcd's flags (always written, as the guide does).
    public var etcdFlags: [String] {
        ["--heartbeat-interval=\(etcdHeartbeatMilliseconds)", "--election-timeout=\(etcdElectionMilliseconds)"]
    }

    /// kube-controller-manager's leader-election flags that differ from upstream's defaults.
    public var controllerManagerFlags: [String] {
        leaseValues.filter { $0.seconds != $0.upstream }.map { "\($0.flag)=\($0.seconds)s" }
    }

    /// KubeSchedulerConfiguration `leaderElection` fields that differ from upstream's defaults.
    public var schedulerLeaderElection: [(String, YAMLDocument)] {
        leaseValues.filter { $0.seconds != $0.upstream }.map { ($0.field, .string("\($0.seconds)s")) }
    }

    /// The `timing` section as the record writes it; empty when every value is the default.
    public var rendered: [(String, YAMLDocument)] {
        let defaults = ControlPlaneTiming()
        var pairs: [(String, YAMLDocument)] = []
        if etcdHeartbeatMilliseconds != defaults.etcdHeartbeatMilliseconds { pairs.append(("etcdHeartbeatInterval", .int(etcdHeartbeatMilliseconds))) }
        if etcdElectionMilliseconds != defaults.etcdElectionMilliseconds { pairs.append(("etcdElectionTimeout", .int(etcdElectionMilliseconds))) }
        let lease = leaseValues.filter { $0.seconds != $0.upstream }.map { ($0.field, YAMLDocument.int($0.seconds)) }
        if !lease.isEmpty { pairs.append(("leaderElection", .map(lease))) }
        return pairs
    }

    /// Reads a `timing` section; each value is a whole number, and a rule of `problem()` is reported
    /// on the line of the field it names (the section's first line when that field was not written).
    public static func parse(_ field: YAMLField) throws -> ControlPlaneTiming {
        var timing = ControlPlaneTiming()
        var lines: [String: Int] = [:]
        func number(_ value: YAMLField, unit: String) throws -> Int {
            let text = try value.scalarText()
            guard let number = Validate.decimalInteger(text), number > 0 else {
                throw value.error(.invalidValue, "\(Validate.shown(text)) is not a whole number of \(unit)")
            }
            lines[value.path] = value.line
            return number
        }
        for (key, value) in try field.mapping(allowedKeys: ["etcdHeartbeatInterval", "etcdElectionTimeout", "leaderElection"]) {
            switch key {
            case "etcdHeartbeatInterval": timing.etcdHeartbeatMilliseconds = try number(value, unit: "milliseconds")
            case "etcdElectionTimeout": timing.etcdElectionMilliseconds = try number(value, unit: "milliseconds")
            default: // leaderElection
                for (name, seconds) in try value.mapping(allowedKeys: ["leaseDuration", "renewDeadline", "retryPeriod"]) {
                    let number = try number(seconds, unit: "seconds")
                    switch name {
                    case "leaseDuration": timing.leaseDurationSeconds = number
                    case "renewDeadline": timing.renewDeadlineSeconds = number
                    default: timing.retryPeriodSeconds = number
                    }
                }
            }
        }
        if let problem = timing.problem() {
            throw ConfigError(.invalidValue, file: field.file, field: problem.field, line: lines[problem.field] ?? field.line, problem.message)
        }
        return timing
    }
}
