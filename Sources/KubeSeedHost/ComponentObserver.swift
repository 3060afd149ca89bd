import Foundation
import Glibc
import KubeSeedCore

/// Reads what the component planner needs: rendered files' current text and mode, unit states,
/// and which Kubernetes binaries are installed. Read-only.
public struct ComponentObserver {
    public let root: HostRoot
    public let services: ServiceManager?

    public init(root: HostRoot = HostRoot(), services: ServiceManager?) {
        self.root = root
        self.services = services
    }

    /// `cniLayout`: also read Debian's CNI plugins and `/opt/cni/bin` (a node's plan links them).
    public func observe(_ files: [RenderedFile], units: [ComponentPlanner.ManagedUnit] = ComponentPlanner.nodeUnits,
                        cniLayout: Bool = false) throws -> ComponentObservation {
        var observed = ComponentObservation()
        if cniLayout {
            observed.debianCNIPlugins = root.list(NodePaths.debianCNIPluginDir).filter { name in
                let path = root.resolve(CNILayout.target(name))
                var info = stat()
                return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
            }
            for name in root.list(NodePaths.cniBinDir) {
                observed.cniBinEntries[name] = root.readLink(CNILayout.linkPath(name)).map { .link($0) } ?? .other
            }
        }
        for file in files {
            if let text = try root.readText(file.path), let mode = root.mode(file.path) {
                observed.files[file.path] = (text, mode, root.modifiedMicroseconds(file.path) ?? 0)
            }
        }
        guard let services else { throw HostError(.dbus, "systemd is not reachable") }
        // A change time in the future (a clock set back since) says nothing about a unit's start.
        let now = UInt64(Date().timeIntervalSince1970 * 1_000_000)
        let states = try services.unitStates(units.map(\.name))
        for unit in units {
            observed.units[unit.name] = states[unit.name] ?? .notFound
            if let binary = unit.binary, let path = unit.binaryPath, access(root.resolve(path), X_OK) == 0 {
                observed.binaries.insert(binary)
                if let changed = root.identity(path)?.changedMicroseconds, changed <= now { observed.binaryChangedMicroseconds[binary] = changed }
            }
        }
        return observed
    }
}
