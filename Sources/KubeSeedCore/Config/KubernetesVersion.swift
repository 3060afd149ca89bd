/// A Kubernetes release as its binaries print it (`v1.20.2`), and the one table that decides every
/// difference between the minors KubeSeed supports.
public struct KubernetesVersion: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let patch: Int

    /// The oldest minor KubeSeed renders for: 1.20 is the release these machines can build and run.
    public static let oldestSupportedMinor = 20
    /// What renderers assume when no version is known (a value built in code, not read from a file).
    public static let newestTabled = KubernetesVersion(major: 1, minor: 31, patch: 2)
    /// What a version must be, for messages.
    public static let supportedRule = "v1.\(oldestSupportedMinor).0 or later, like v1.20.2"

    public init(major: Int, minor: Int, patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// `vMAJOR.MINOR.PATCH` with ASCII decimal numbers of at most 4 digits and no leading zeros
    /// (a pre-release or build suffix is refused); `nil` otherwise.
    public init?(_ text: String) {
        guard text.hasPrefix("v") else { return nil }
        let parts = text.dropFirst().split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard (1...4).contains(part.utf8.count), part.isASCIIDigits, part == "0" || !part.hasPrefix("0"),
                  let number = Int(part) else { return nil }
            numbers.append(number)
        }
        self.init(major: numbers[0], minor: numbers[1], patch: numbers[2])
    }

    /// The version in a binary's `--version` line (`Kubernetes v1.20.2`); `nil` when the text is not one.
    public static func fromVersionOutput(_ output: String) -> KubernetesVersion? {
        let line = output.split(separator: "\n").first.map(String.init) ?? ""
        let words = line.split(separator: " ")
        guard words.count == 2, words[0] == "Kubernetes" else { return nil }
        return KubernetesVersion(String(words[1]))
    }

    /// 1.x with x at least `oldestSupportedMinor`.
    public var isSupported: Bool { major == 1 && minor >= Self.oldestSupportedMinor }

    public var description: String { "v\(major).\(minor).\(patch)" }

    public static func < (a: KubernetesVersion, b: KubernetesVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    // MARK: the version table

    /// How the kubelet is told where the container runtime listens.
    public enum RuntimeEndpoint: Sendable, Equatable {
        /// `--container-runtime=remote --container-runtime-endpoint=…` (before 1.24; dockershim was the default).
        case remoteRuntimeFlags
        /// `--container-runtime-endpoint=…` alone (1.24 to 1.26: dockershim gone, the field not yet there).
        case endpointFlag
        /// `containerRuntimeEndpoint` in KubeletConfiguration (1.27 on).
        case configField
    }

    /// One row per difference: the value for a minor is the last row whose `since` is at or below it.
    static let runtimeEndpointRows: [(since: Int, value: RuntimeEndpoint)] = [
        (20, .remoteRuntimeFlags), (24, .endpointFlag), (27, .configField),
    ]
    static let schedulerConfigRows: [(since: Int, value: String)] = [
        (20, "kubescheduler.config.k8s.io/v1beta1"), (22, "kubescheduler.config.k8s.io/v1beta2"),
        (23, "kubescheduler.config.k8s.io/v1beta3"), (25, "kubescheduler.config.k8s.io/v1"),
    ]
    static let endpointSliceRows: [(since: Int, value: String)] = [
        (20, "discovery.k8s.io/v1beta1"), (21, "discovery.k8s.io/v1"),
    ]

    /// Whether the component still serves plain HTTP (healthz and metrics, unauthenticated) on all
    /// interfaces by default, which `--port=0` turns off: kube-scheduler before 1.23, kube-controller-manager before 1.24.
    static let schedulerInsecurePortRows: [(since: Int, value: Bool)] = [(20, true), (23, false)]
    static let controllerManagerInsecurePortRows: [(since: Int, value: Bool)] = [(20, true), (24, false)]
    /// Whether API Priority and Fairness is turned off. 1.20 turns it on by default (beta) and samples its
    /// histograms once per elapsed millisecond, under the lock every request takes: on a slow or starved
    /// CPU that catch-up holds the lock for seconds and requests wait behind it (measured on 1.20.2).
    /// Off, the API server keeps the max-in-flight limits, as 1.19 did by default.
    static let priorityAndFairnessOffRows: [(since: Int, value: Bool)] = [(20, true), (21, false)]

    static func row<Value>(_ rows: [(since: Int, value: Value)], _ minor: Int) -> Value {
        rows.last { $0.since <= minor }?.value ?? rows[0].value
    }

    /// How this kubelet finds containerd.
    public var runtimeEndpoint: RuntimeEndpoint { Self.row(Self.runtimeEndpointRows, minor) }
    /// The KubeSchedulerConfiguration apiVersion this kube-scheduler reads (each is served for a few
    /// minors; the newest one the minor has is used).
    public var schedulerConfigAPIVersion: String { Self.row(Self.schedulerConfigRows, minor) }
    /// Flags that turn off kube-scheduler's insecure port where it still has one.
    public var schedulerInsecurePortFlags: [String] { Self.row(Self.schedulerInsecurePortRows, minor) ? ["--port=0"] : [] }
    /// Flags that turn off kube-controller-manager's insecure port where it still has one.
    public var controllerManagerInsecurePortFlags: [String] { Self.row(Self.controllerManagerInsecurePortRows, minor) ? ["--port=0"] : [] }
    /// Flags that turn API Priority and Fairness off where its sampling can stall the API server.
    public var apiServerFlowControlFlags: [String] {
        Self.row(Self.priorityAndFairnessOffRows, minor) ? ["--enable-priority-and-fairness=false"] : []
    }
    /// The EndpointSlice group/version this API server serves (`v1beta1` only, before 1.21).
    public var endpointSliceGroupVersion: String { Self.row(Self.endpointSliceRows, minor) }
}
