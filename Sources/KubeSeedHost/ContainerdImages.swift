import Foundation
import KubeSeedCore

/// containerd's images in the `k8s.io` namespace, through containerd's own client `ctr` (containerd
/// has no C API; its Debian package ships `ctr`).
public final class ContainerdImages: ImageStore {
    public let ctr: String
    public let namespace: String

    public init(ctr: String = "/usr/bin/ctr", namespace: String = ImageArchives.namespace) {
        self.ctr = ctr
        self.namespace = namespace
    }

    func run(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> String {
        let result = try ProgramRunner.run(ctr, ["--namespace", namespace] + arguments, timeout: timeout)
        guard result.status == 0 else {
            throw HostError(.program, "ctr \(arguments.first ?? "") \(arguments.dropFirst().first ?? "") failed (exit \(result.status))",
                            cause: Validate.printable(String(result.output.suffix(600)).trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return result.output
    }

    public func references() throws -> Set<String> {
        // Only reference-shaped lines: a warning ctr wrote to its standard error is not an image.
        Set(try run(["images", "list", "--quiet"]).split(separator: "\n").map(String.init).filter(Validate.isImageReference))
    }

    public func importArchive(_ path: String) throws -> [String] {
        // Large archives: containerd reads and unpacks every layer.
        ImageArchives.unpackedReferences(try run(["images", "import", path], timeout: .seconds(600)))
    }

    public func label(_ ref: String, _ label: String) throws {
        _ = try run(["images", "label", "--", ref, label])
    }

    public func remove(_ ref: String) throws {
        _ = try run(["images", "remove", "--sync", "--", ref])
    }
}
