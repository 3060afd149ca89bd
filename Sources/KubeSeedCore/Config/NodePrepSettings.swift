import Foundation

/// What node preparation aims for. Every field has the guide's (corrected) default; an operator
/// overrides them in the agent config file (see `AgentConfig`).
public struct NodePrepSettings: Sendable, Equatable {
    /// Kernel modules loaded now and persisted in modules-load.d, in load order.
    public var modules: [String]
    /// Tried in order; the first one the kernel has is used (`nf_conntrack_ipv4` only exists before Linux 4.19).
    public var conntrackModuleCandidates: [String]
    /// Sysctls written to /proc/sys and persisted in sysctl.d, in order.
    public var sysctls: [SysctlSetting]
    /// Time zone to set through timedate1; `nil` leaves the host's as it is.
    public var timezone: String?
    /// Whether the RTC keeps local time (the guide sets it to UTC: `false`).
    public var localRTC: Bool
    /// The NTP service enabled and started.
    public var ntpUnit: String
    /// Stop and disable firewalld when it is installed.
    public var disableFirewalld: Bool
    /// Wanted SELinux mode where SELinux exists.
    public var selinuxMode: SELinuxMode
    /// Where the data lives (the guide's `/data/k8s`): etcd's data and WAL, the control plane's
    /// working directories, containerd's root and the kubelet's root dir are all derived from it.
    public var dataDir: String
    /// Directories laid out besides the data layout (the components' own), with their modes.
    public var extraDirectories: [DirectorySetting] = []

    /// Every directory laid out: the layout under `dataDir`, then `extraDirectories` not already in it.
    public var directories: [DirectorySetting] {
        let layout = NodePrepSettings.directories(dataDir: dataDir)
        return layout + extraDirectories.filter { !layout.contains($0) }
    }

    /// Adds directories to lay out, skipping those already there.
    public mutating func addDirectories(_ more: [DirectorySetting]) {
        for directory in more where !directories.contains(directory) { extraDirectories.append(directory) }
    }

    /// etcd's data directory under `dataDir`.
    public var etcdDataDir: String { "\(dataDir)/etcd/data" }
    /// Where `seed etcd snapshot save` keeps snapshots, under `dataDir`.
    public var etcdSnapshotDir: String { "\(dataDir)/etcd/snapshots" }
    /// etcd's write-ahead log directory under `dataDir`.
    public var etcdWALDir: String { "\(dataDir)/etcd/wal" }
    /// The Kubernetes components' data under `dataDir` (control-plane working directories, the kubelet's root).
    public var kubernetesDataDir: String { "\(dataDir)/k8s" }
    /// containerd's root under `dataDir`, unless the join file names one.
    public var containerdRoot: String { "\(dataDir)/containerd/root" }
    /// The kubelet's root directory under `dataDir`, unless the join file names one.
    public var kubeletRootDir: String { "\(dataDir)/k8s/kubelet" }

    public static let defaultDataDir = "/data/k8s"

    public init(
        modules: [String] = NodePrepSettings.defaultModules,
        conntrackModuleCandidates: [String] = ["nf_conntrack", "nf_conntrack_ipv4"],
        sysctls: [SysctlSetting] = NodePrepSettings.defaultSysctls,
        timezone: String? = nil,
        localRTC: Bool = false,
        ntpUnit: String = "chrony.service",
        disableFirewalld: Bool = true,
        selinuxMode: SELinuxMode = .permissive,
        dataDir: String = NodePrepSettings.defaultDataDir
    ) {
        self.modules = modules
        self.conntrackModuleCandidates = conntrackModuleCandidates
        self.sysctls = sysctls
        self.timezone = timezone
        self.localRTC = localRTC
        self.ntpUnit = ntpUnit
        self.disableFirewalld = disableFirewalld
        self.selinuxMode = selinuxMode
        self.dataDir = dataDir
    }

    public static let defaultModules = ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "br_netfilter", "overlay"]

    public static let defaultSysctls: [SysctlSetting] = [
        .init("net.bridge.bridge-nf-call-iptables", "1"),
        .init("net.bridge.bridge-nf-call-ip6tables", "1"),
        .init("net.ipv4.ip_forward", "1"),
        .init("vm.swappiness", "0"),
        .init("vm.overcommit_memory", "1"),
        .init("vm.panic_on_oom", "0"),
        .init("fs.inotify.max_user_instances", "8192"),
        .init("fs.inotify.max_user_watches", "1048576"),
        .init("fs.file-max", "52706963"),
        .init("fs.nr_open", "52706963"),
        .init("net.netfilter.nf_conntrack_max", "2310720"),
        .init("net.ipv4.neigh.default.gc_thresh1", "1024"),
        .init("net.ipv4.neigh.default.gc_thresh2", "2048"),
        .init("net.ipv4.neigh.default.gc_thresh3", "4096"),
        // Removed in Linux 4.12; set only where the key still exists.
        .init("net.ipv4.tcp_tw_recycle", "0", onlyIfPresent: true),
    ]

    /// Sysctls that turn IPv6 off (an option, not a default).
    public static let disableIPv6Sysctls: [SysctlSetting] = [
        .init("net.ipv6.conf.all.disable_ipv6", "1"),
        .init("net.ipv6.conf.default.disable_ipv6", "1"),
    ]

    /// The guide's directory layout, with data under `dataDir`.
    public static func directories(dataDir: String) -> [DirectorySetting] {
        [
            .init("/opt/k8s/bin", mode: 0o755),
            .init("/opt/k8s/work", mode: 0o755),
            .init(NodePaths.certDir, mode: 0o700),
            .init("/etc/etcd/cert", mode: 0o700),
            .init("\(dataDir)/etcd/data", mode: 0o700),
            .init("\(dataDir)/etcd/wal", mode: 0o700),
            .init("\(dataDir)/k8s", mode: 0o755),
            .init("\(dataDir)/containerd", mode: 0o711),
            .init("/etc/cni/net.d", mode: 0o755),
            .init("/opt/cni/bin", mode: 0o755),
        ]
    }
}

/// One kernel parameter by its dotted name.
public struct SysctlSetting: Sendable, Equatable {
    public var key: String
    public var value: String
    /// Skip quietly when the kernel lacks the key (instead of reporting it).
    public var onlyIfPresent: Bool

    public init(_ key: String, _ value: String, onlyIfPresent: Bool = false) {
        self.key = key
        self.value = value
        self.onlyIfPresent = onlyIfPresent
    }

    /// The file under /proc/sys that holds this key.
    public var procPath: String {
        // Not Foundation's replacingOccurrences: bridged through NSString, it was 1.2 % of the agent's first run.
        "/proc/sys/" + String(key.map { $0 == "." ? "/" : $0 })
    }

    /// The module whose loading makes this key appear, if any.
    public var providingModule: String? {
        if key.hasPrefix("net.bridge.") { return "br_netfilter" }
        if key.hasPrefix("net.netfilter.nf_conntrack") { return "nf_conntrack" }
        return nil
    }
}

/// A directory of the layout and the mode it is created with.
public struct DirectorySetting: Sendable, Equatable {
    public var path: String
    public var mode: UInt16
    public init(_ path: String, mode: UInt16) {
        self.path = path
        self.mode = mode
    }
}

/// SELinux modes KubeSeed may set. `permissive` keeps labels; `disabled` needs a reboot.
public enum SELinuxMode: String, Sendable, Equatable, CaseIterable {
    case permissive, disabled
}
