import Foundation

/// What the host looks like for the node components.
public struct ComponentObservation: Sendable {
    /// Current text, mode and modification time (µs since the epoch) of each file the agent
    /// renders (absent: missing).
    public var files: [String: (content: String, mode: UInt16, modifiedMicroseconds: UInt64)] = [:]
    /// containerd, kubelet, kube-proxy as systemd sees them.
    public var units: [String: UnitState] = [:]
    /// Executables found in /opt/k8s/bin, by name.
    public var binaries: Set<String> = []
    /// When each found executable was put in place (its inode's change time, µs since the epoch), when it
    /// is not in the future.
    public var binaryChangedMicroseconds: [String: UInt64] = [:]
    /// Files KubeSeed created in the directories whose content it renders whole (containerd's certs.d),
    /// from the change journal, that are still there: one no longer rendered is removed.
    public var ownedFiles: Set<String> = []
    /// Executables in `/usr/lib/cni` (Debian's CNI plugins), and what `/opt/cni/bin` holds by name;
    /// `nil` when the plan has no CNI layout (masters that are not nodes).
    public var debianCNIPlugins: [String]?
    public var cniBinEntries: [String: CNIBinEntry] = [:]
    public init() {}
}

/// Plans the node components: files that differ, unit enablement, starts and restarts. Pure.
public enum ComponentPlanner {
    public static let containerd = "containerd.service"
    public static let kubelet = "kubelet.service"
    public static let kubeProxy = "kube-proxy.service"
    /// Kubernetes units and the binary each needs.
    public static let kubernetesUnits = [(kubelet, "kubelet"), (kubeProxy, "kube-proxy")]

    /// A unit the planner enables and starts: `package` units (containerd, etcd) must be installed;
    /// units with a `binary` (a name in `/opt/k8s/bin`, or an absolute path) run only once it is there.
    public struct ManagedUnit: Sendable, Equatable {
        public var name: String
        public var binary: String?
        public var installHint: String
        /// `true` when the unit runs `binary` (so a newer binary restarts it); `false` when it only waits for it.
        public var runsBinary: Bool
        public init(_ name: String, binary: String?, installHint: String, runsBinary: Bool = true) {
            self.name = name
            self.binary = binary
            self.installHint = installHint
            self.runsBinary = runsBinary
        }

        /// Where the unit's binary is: an absolute path as given, a name in `/opt/k8s/bin`.
        public var binaryPath: String? { binary.map { $0.hasPrefix("/") ? $0 : "\(NodePaths.binDir)/\($0)" } }
    }

    public static let nodeUnits: [ManagedUnit] = [
        ManagedUnit(containerd, binary: nil, installHint: "apt install containerd runc"),
        ManagedUnit(APIBalancer.unit, binary: APIBalancer.executable, installHint: "apt install haproxy"),
    ] + kubernetesUnits.map { ManagedUnit($0.0, binary: $0.1, installHint: "kubernetes-node-linux-amd64.tar.gz or kubernetes-server-linux-amd64.tar.gz") }

    /// The node's components: containerd, the API balancer, kubelet, kube-proxy.
    public static func plan(_ files: [RenderedFile], _ observed: ComponentObservation) -> NodePlan {
        plan(files, observed, units: nodeUnits)
    }

    /// Writes what differs, then enables, reloads once, and starts or restarts `units`.
    public static func plan(_ files: [RenderedFile], _ observed: ComponentObservation, units: [ManagedUnit]) -> NodePlan {
        var items: [PlanItem] = []
        var changedUnits = Set<String>()
        var unitFileWritten = false
        for file in files {
            let current = observed.files[file.path]
            if let current, current.content == file.content, current.mode == file.mode {
                items.append(PlanItem(file.path, .ok, "up to date"))
                continue
            }
            let why = current == nil ? "will be written" : (current!.content == file.content ? "mode will be set to \(String(file.mode, radix: 8))" : "will be rewritten")
            items.append(PlanItem(file.path, .change, why, steps: [.writeFile(path: file.path, content: file.content, mode: file.mode)]))
            changedUnits.formUnion(file.restarts)
            if file.path.hasPrefix("/etc/systemd/system/") { unitFileWritten = true }
        }
        if let plugins = observed.debianCNIPlugins {
            items.append(CNILayout.plan(debianPlugins: plugins, entries: observed.cniBinEntries))
        }
        // A mirror taken out of the join file takes its hosts.toml with it: containerd reads certs.d on each
        // pull, so it would keep pulling through the mirror.
        let rendered = Set(files.map(\.path))
        for path in observed.ownedFiles.subtracting(rendered).sorted() {
            items.append(PlanItem(path, .change, "no longer in the join file: will be removed", steps: [.removeFile(path: path)]))
        }
        // Enable everything first, reload systemd once, then start or restart: one reload per pass.
        var activation: [Step] = []
        for unit in units {
            if unit.binary == nil {
                let state = observed.units[unit.name] ?? .notFound
                guard state.exists else {
                    items.append(PlanItem(unit.name, .fail, "not installed (\(unit.installHint))", blocksApply: true))
                    continue
                }
                let (item, steps) = unitItem(unit.name, state, configChanged: changedUnits.contains(unit.name) || stale(unit, state, files, observed),
                                             runnable: true, binaryNote: "")
                items.append(item)
                activation += steps
                continue
            }
            let binary = unit.binary!
            // A unit file written in this run is not loaded yet: treat it as new, disabled and inactive.
            let state = observed.units[unit.name].flatMap { $0.exists ? $0 : nil } ?? UnitState(loadState: "loaded", unitFileState: "disabled")
            let (item, steps) = unitItem(unit.name, state, configChanged: changedUnits.contains(unit.name) || stale(unit, state, files, observed),
                                         runnable: observed.binaries.contains(binary),
                                         binaryNote: binary.hasPrefix("/") ? "\(binary) missing (\(unit.installHint))"
                                             : "binary missing: put \(binary) in \(NodePaths.binDir) (from \(unit.installHint))")
            items.append(item)
            activation += steps
        }
        let enabling = items.contains { $0.steps.contains { if case .enableUnit = $0 { return true }; return false } }
        if unitFileWritten || enabling || !activation.isEmpty {
            let reload: [Step] = unitFileWritten || enabling ? [.reloadSystemd] : []
            items.append(PlanItem("systemd", .change, (reload + activation).map(\.description).joined(separator: ", "), steps: reload + activation))
        }
        return NodePlan(items: items)
    }

    /// An active unit started before one of its files or its binary was last written runs an old
    /// configuration or program (a binary replaced, a restart that failed, a pass cut short): restart it.
    /// No state beyond the host's own.
    public static func stale(_ unit: ManagedUnit, _ state: UnitState, _ files: [RenderedFile], _ observed: ComponentObservation) -> Bool {
        files.contains { file in file.restarts.contains(unit.name) && state.runsOlderThan(observed.files[file.path]?.modifiedMicroseconds) }
            || runsOlderBinary(unit, state, observed)
    }

    /// Whether `unit` runs (active, not still starting: a unit that never came up again would look older
    /// on every pass) since before its binary was put in place.
    public static func runsOlderBinary(_ unit: ManagedUnit, _ state: UnitState, _ observed: ComponentObservation) -> Bool {
        guard unit.runsBinary, let binary = unit.binary, state.activeState == "active" else { return false }
        return state.runsOlderThan(observed.binaryChangedMicroseconds[binary])
    }

    /// The unit's report line with its enable step, and the start/restart to run after the reload.
    static func unitItem(_ unit: String, _ state: UnitState, configChanged: Bool, runnable: Bool, binaryNote: String) -> (PlanItem, [Step]) {
        var enable: [Step] = []
        var activation: [Step] = []
        var todo: [String] = []
        if !state.isEnabled { enable.append(.enableUnit(unit)); todo.append("enable") }
        guard runnable else {
            return (PlanItem(unit, .warn, binaryNote + (todo.isEmpty ? "" : "; will enable it for when it is there"), steps: enable), [])
        }
        if !state.isActive {
            activation.append(.startUnit(unit)); todo.append("start")
        } else if configChanged {
            activation.append(.restartUnit(unit)); todo.append("restart (configuration changed)")
        }
        if todo.isEmpty { return (PlanItem(unit, .ok, "\(state.unitFileState), \(state.activeState)"), []) }
        return (PlanItem(unit, .change, "will \(todo.joined(separator: ", "))", steps: enable), activation)
    }
}
