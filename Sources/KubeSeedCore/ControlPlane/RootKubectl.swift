/// kubectl for root on a master: `/root/.kube/config` from the admin kubeconfig and `kubectl` on PATH
/// (a link in /usr/local/bin to /opt/k8s/bin/kubectl). An operator's own file or command is never
/// replaced. Pure: the host layer observes and applies.
public enum RootKubectl {
    public static let kubeDirectory = "/root/.kube"
    public static let configPath = "/root/.kube/config"
    public static let linkDirectory = "/usr/local/bin"
    public static let linkPath = "/usr/local/bin/kubectl"
    public static let binary = "\(NodePaths.binDir)/kubectl"
    /// Where root's PATH finds commands after /usr/local/bin.
    public static let laterOnPath = ["/usr/sbin/kubectl", "/usr/bin/kubectl", "/sbin/kubectl", "/bin/kubectl"]

    /// What the host holds for root's kubectl.
    public struct Observation: Sendable, Equatable {
        /// The current `/root/.kube/config` (nil: none) and its mode.
        public var config: String?
        public var configMode: UInt16?
        /// The current config is one KubeSeed wrote (its SHA-256 is in the change journal).
        public var configIsKubeSeeds = false
        public var kubeDirectoryExists = false
        public var linkDirectoryExists = true
        /// What is at `/usr/local/bin/kubectl`: nil nothing, `.link(target)` or `.other`.
        public var link: CNIBinEntry?
        /// `/opt/k8s/bin/kubectl` is there and executable.
        public var binaryPresent = false
        /// A kubectl the operator already has further down PATH (`/usr/bin/kubectl` from a package): a
        /// link in /usr/local/bin would shadow it.
        public var otherKubectl: String?
        public init() {}
    }

    public static func plan(adminKubeconfig: String, _ observed: Observation) -> [PlanItem] {
        [configItem(adminKubeconfig, observed), linkItem(observed)]
    }

    static func configItem(_ admin: String, _ observed: Observation) -> PlanItem {
        let name = configPath
        let write = Step.writeFile(path: configPath, content: admin, mode: 0o600)
        guard let current = observed.config else {
            let mkdir: [Step] = observed.kubeDirectoryExists ? [] : [.createDirectory(path: kubeDirectory, mode: 0o700)]
            return PlanItem(name, .change, "will be written (0600) from the admin kubeconfig", steps: mkdir + [write])
        }
        guard observed.configIsKubeSeeds else {
            return PlanItem(name, .ok, "root's own: left as is (the admin kubeconfig is \(ControlPlane.adminKubeconfigPath))")
        }
        if current == admin && observed.configMode == 0o600 { return PlanItem(name, .ok, "the admin kubeconfig") }
        return PlanItem(name, .change, "will be rewritten from the admin kubeconfig", steps: [write])
    }

    static func linkItem(_ observed: Observation) -> PlanItem {
        let name = "kubectl on PATH"
        guard observed.binaryPresent else { return PlanItem(name, .ok, "no \(binary) yet: nothing to link") }
        switch observed.link {
        case .link(let target) where target == binary:
            return PlanItem(name, .ok, "\(linkPath) → \(binary)")
        case .link, .other:
            return PlanItem(name, .ok, "\(linkPath) is the operator's: left as is")
        case nil:
            if let other = observed.otherKubectl { return PlanItem(name, .ok, "\(other) is the operator's: not shadowed (run \(binary) by its path)") }
            guard observed.linkDirectoryExists else { return PlanItem(name, .warn, "no \(linkDirectory): run \(binary) by its path") }
            return PlanItem(name, .change, "will link \(linkPath) → \(binary)", steps: [.link(path: linkPath, target: binary)])
        }
    }
}
