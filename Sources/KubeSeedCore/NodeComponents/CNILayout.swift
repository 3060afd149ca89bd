/// What is at one name in `/opt/cni/bin`.
public enum CNIBinEntry: Sendable, Equatable {
    /// A symbolic link, with its target as written.
    case link(String)
    /// Anything else: a plugin a CNI installed, or the operator's.
    case other
}

/// containerd reads CNI plugins from one directory. DaemonSet CNIs install into `/opt/cni/bin`;
/// Debian's plugins are in `/usr/lib/cni`. Each Debian plugin is linked into `/opt/cni/bin` unless
/// something else already has its name there (a CNI's own build of it wins). Pure.
public enum CNILayout {
    /// The link for plugin `name`.
    public static func linkPath(_ name: String) -> String { "\(NodePaths.cniBinDir)/\(name)" }
    public static func target(_ name: String) -> String { "\(NodePaths.debianCNIPluginDir)/\(name)" }

    /// `debianPlugins`: executables in `/usr/lib/cni`; `entries`: what `/opt/cni/bin` holds by name.
    public static func plan(debianPlugins: [String], entries: [String: CNIBinEntry]) -> PlanItem {
        let name = "CNI plugins in \(NodePaths.cniBinDir)"
        guard !debianPlugins.isEmpty else {
            return PlanItem(name, .warn, "no plugins in \(NodePaths.debianCNIPluginDir) to link (apt install containernetworking-plugins); only a CNI's own plugins will be found")
        }
        var linked: [String] = []
        var toLink: [String] = []
        var kept: [String] = []
        for plugin in debianPlugins.sorted() {
            switch entries[plugin] {
            case nil: toLink.append(plugin)
            case .link(let current) where current == target(plugin): linked.append(plugin)
            case .link, .other: kept.append(plugin)
            }
        }
        let keptNote = kept.isEmpty ? "" : "; kept as installed by others: \(kept.joined(separator: " "))"
        if toLink.isEmpty {
            return PlanItem(name, .ok, "\(linked.count) linked from \(NodePaths.debianCNIPluginDir)\(keptNote)")
        }
        return PlanItem(name, .change, "will link \(toLink.joined(separator: " ")) from \(NodePaths.debianCNIPluginDir)\(keptNote)",
                        steps: toLink.map { .link(path: linkPath($0), target: target($0)) })
    }
}
