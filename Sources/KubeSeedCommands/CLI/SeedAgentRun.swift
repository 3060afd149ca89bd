import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The node agent (seed-agent.service): converge from the join file, report readiness, wait for changes.",
        discussion: """
            Validates the join file, prepares the node, writes containerd / kubelet / kube-proxy configuration and \
            units, starts what can run, then sends READY=1 and waits (inotify) for the join file or /opt/k8s/bin to \
            change, or for an image archive in /var/lib/kubeseed/images (imported into containerd's k8s.io \
            namespace; checked against SHA256SUMS there when present). Once the kubelet has its client certificate, it also asks every minute which API servers the \
            default/kubernetes EndpointSlice lists, and points the node-local balancer at them when they changed. \
            An invalid join file changes nothing; the agent reports why and waits for a fix.
            """)
    @Option(help: "The join file.") var join = JoinFile.defaultPath
    @Flag(help: "One pass, then exit (0 when ready).") var once = false

    func run() async throws {
        // The watcher compares absolute paths: a relative --join would name no directory at all.
        let join = absolutePath(self.join)
        let operations = try liveOperations(root: HostRoot(), settings: NodePrepSettings())
        let watcher = try DirectoryWatcher()
        let joinDirectory = (join as NSString).deletingLastPathComponent
        try watcher.watch(joinDirectory)
        var watchingBinaries = false
        var watchingImages = false
        var notifiedReady = false
        while true {
            ServiceNotifier.notify("STATUS=converging from \(Validate.printable(join))")
            let pass = operations.converge(joinPath: join)
            // Unbuffered writes: the journal reads stdout through a pipe.
            say(pass.output + "seed-agent: \(pass.status.ready ? "ready" : "not ready"): \(pass.status.summary) (\(pass.changes) changes)\n")
            do { try operations.writeStatus(pass.status) } catch { say("seed-agent: could not write the status file: \(error)\n") }
            // One line: a value that slipped a newline into the summary must not add READY=1 or anything else.
            ServiceNotifier.notify("STATUS=\(pass.status.ready ? "ready" : "not ready"): \(Validate.printable(pass.status.summary))")
            if pass.status.ready && !notifiedReady {
                ServiceNotifier.notify("READY=1")
                notifiedReady = true
            }
            if once { throw ExitCode(pass.status.ready ? 0 : 1) }
            // A component that failed may come up on a fresh try: exit and let systemd restart us
            // (Restart=on-failure, RestartSec=10). A bad join file instead waits for an edit.
            if !pass.status.ready && pass.retryable { throw ExitCode(1) }
            if !watchingBinaries, operations.root.isDirectory(NodePaths.binDir) {
                try watcher.watch(NodePaths.binDir)
                watchingBinaries = true
            }
            if !watchingImages, operations.root.isDirectory(ImageArchives.directory) {
                try watcher.watch(ImageArchives.directory)
                watchingImages = true
            }
            // Sleep in the kernel until the join file or the binaries directory changes, waking every
            // interval to ask which API servers there are.
            while true {
                let changed = try watcher.next(timeout: APIServerDiscovery.interval)
                if changed.isEmpty {
                    let refresh = await operations.refreshAPIServers(joinPath: join)
                    if refresh.changed { say("seed-agent: \(refresh.message)\n"); break }
                    continue
                }
                if changed.contains(where: { $0 == join || $0.hasPrefix(NodePaths.binDir + "/") || $0.hasPrefix(ImageArchives.directory + "/") }) { break }
            }
        }
    }
}
