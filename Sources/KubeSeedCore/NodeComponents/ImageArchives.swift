import Foundation

/// Air-gapped images: OCI or docker-archive tarballs an operator puts in the images directory, which
/// the agent imports into containerd's `k8s.io` namespace (as k0s's `<data-dir>/images` and k3s's
/// `agent/images`). Pure: what is in an archive, what the directory's SHA256SUMS says, what to import.
public enum ImageArchives {
    /// Where archives are put (root's: the agent imports whatever is here).
    public static let directory = "/var/lib/kubeseed/images"
    /// Optional `sha256sum` output beside the archives; when present, every archive must be listed and match.
    public static let sumsFile = "SHA256SUMS"
    /// containerd's namespace for what the kubelet (CRI) sees.
    public static let namespace = "k8s.io"
    /// containerd 1.7+ reports images with this label to the kubelet as pinned, so its image garbage
    /// collection keeps them (older pairs do not know it: the agent imports a removed image again).
    public static let pinnedLabel = "io.cri-containerd.pinned=pinned"
    /// The largest index.json / manifest.json read from an archive.
    public static let maximumIndexBytes = 1 << 20

    /// Whether a directory entry is an archive to import: `NAME.tar`, not hidden (a copy in progress
    /// is best written under a dot name and renamed).
    public static func isArchiveName(_ name: String) -> Bool {
        !name.hasPrefix(".") && name.hasSuffix(".tar") && name.count > 4
            && name.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 && $0.value != 0x7f && $0 != "/" }
    }

    /// An archive's image references, read as containerd's importer reads them: an OCI layout (an
    /// `oci-layout` member and `index.json`) names each image in its `io.containerd.image.name`
    /// annotation, which containerd keeps as written, so it must be a full reference with a registry
    /// (`docker.io/library/busybox:1`); a docker archive (`manifest.json`) names them in `RepoTags`,
    /// which containerd normalizes (`busybox` is `docker.io/library/busybox:latest`). Throws when the
    /// archive names no image: containerd would import it without a name, and nothing could use it.
    public static func references(indexJSON: Data?, manifestJSON: Data?, ociLayout: Bool) throws -> [String] {
        var refs: [String] = []
        if ociLayout, let indexJSON {
            guard let index = try? JSONSerialization.jsonObject(with: indexJSON) as? [String: Any],
                  let manifests = index["manifests"] as? [[String: Any]] else {
                throw TarError("index.json is not an OCI image index")
            }
            for manifest in manifests {
                guard let name = (manifest["annotations"] as? [String: Any])?["io.containerd.image.name"] as? String else { continue }
                guard normalized(name) == name, Validate.isImageReference(name) else {
                    throw TarError("the archive names \(Validate.shown(name)) in io.containerd.image.name; containerd keeps that name as written: give the full reference, like \(Validate.shown(normalized(name)))")
                }
                refs.append(name)
            }
        } else if let manifestJSON {
            guard let manifests = try? JSONSerialization.jsonObject(with: manifestJSON) as? [[String: Any]] else {
                throw TarError("manifest.json is not a docker image archive's manifest")
            }
            for manifest in manifests {
                for tag in manifest["RepoTags"] as? [String] ?? [] {
                    guard Validate.isImageReference(tag) else { throw TarError("the archive names \(Validate.shown(tag)), which is not an image reference") }
                    refs.append(normalized(tag))
                }
            }
        } else {
            throw TarError("no oci-layout and index.json (OCI) nor manifest.json (docker archive) at the top of the archive")
        }
        guard !refs.isEmpty else { throw TarError("the archive names no image (no io.containerd.image.name annotation or RepoTags)") }
        for ref in refs where !Validate.isImageReference(ref) {
            throw TarError("the archive names \(Validate.shown(ref)), which is not an image reference")
        }
        return Array(Set(refs)).sorted()
    }

    /// A reference as containerd stores a docker archive's tag (the docker reference grammar's
    /// normalization): a registry is added when the first part has none (`docker.io`, and `library/`
    /// for a one-part name there), and `:latest` when there is no tag or digest.
    public static func normalized(_ ref: String) -> String {
        var domain = "docker.io", path = ref
        if let slash = ref.firstIndex(of: "/") {
            let first = ref[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" {
                domain = String(first)
                path = String(ref[ref.index(after: slash)...])
            }
        }
        if domain == "docker.io" && !path.contains("/") { path = "library/" + path }
        let lastPart = path.split(separator: "/").last.map(String.init) ?? path
        if !lastPart.contains(":") && !path.contains("@") { path += ":latest" }
        return domain + "/" + path
    }

    /// `sha256:` and 64 lowercase hex digits: the name containerd's CRI plugin gives an image by its ID.
    public static func isImageIDReference(_ ref: String) -> Bool {
        ref.hasPrefix("sha256:") && ref.dropFirst(7).count == 64 && ref.dropFirst(7).allSatisfy(\.isLowercaseASCIIHexDigit)
    }

    /// `sha256sum` lines (`HEX  NAME` or `HEX *NAME`), keyed by name; a line that is not one names
    /// its line number in the error.
    public static func parseSums(_ text: String) throws -> [String: String] {
        var sums: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            let digest = line.prefix(64).lowercased()
            let rest = line.dropFirst(64)
            guard digest.count == 64, digest.allSatisfy(\.isLowercaseASCIIHexDigit),
                  rest.hasPrefix("  ") || rest.hasPrefix(" *") else {
                throw TarError("\(sumsFile) line \(number + 1) is not 'SHA256  NAME'")
            }
            let name = String(rest.dropFirst(2))
            guard isArchiveName(name) || name == sumsFile else { throw TarError("\(sumsFile) line \(number + 1) names \(Validate.shown(name)), not an archive in this directory") }
            sums[name] = digest
        }
        return sums
    }

    /// What one pass does with one archive.
    public enum Decision: Sendable, Equatable {
        /// Every reference it names is in containerd.
        case present
        /// Import it (some reference is missing: never imported, or removed since).
        case importArchive
        /// Leave it: the reason goes to the status.
        case refuse(String)
    }

    /// The decision for an archive with SHA-256 `digest` naming `refs`, given the directory's sums (if
    /// any) and the references containerd has.
    public static func decide(name: String, digest: String, refs: [String], sums: [String: String]?, present: Set<String>) -> Decision {
        if let sums {
            guard let expected = sums[name] else { return .refuse("not listed in \(sumsFile)") }
            guard expected == digest else { return .refuse("SHA-256 \(digest) is not the \(expected) \(sumsFile) lists") }
        }
        return refs.allSatisfy(present.contains) ? .present : .importArchive
    }

    /// The references `ctr images import` says it unpacked (`unpacking REF (sha256:…)...done`).
    public static func unpackedReferences(_ output: String) -> [String] {
        output.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("unpacking "), let paren = line.range(of: " (sha256:") else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: 10)..<paren.lowerBound])
        }
    }
}
