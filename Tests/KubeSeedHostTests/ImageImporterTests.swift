import Foundation
import Testing
@testable import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedHostFakes

/// containerd's image store as a fake (unit tests of the importer's logic: which archives are read,
/// checked, imported, journaled and removed again). The VM's real-cluster run imports into real containerd.
final class FakeImageStore: ImageStore {
    var refs: Set<String> = []
    var imported: [String] = []
    var labels: [String: Set<String>] = [:]
    var removed: [String] = []
    /// Archive file name → what `ctr images import` would unpack (missing: containerd refuses it).
    var accepts: [String: [String]] = [:]
    /// Archive file name → names containerd creates before it fails (an unpack that fails half-way).
    var createsThenFails: [String: [String]] = [:]
    var down = false

    func references() throws -> Set<String> {
        if down { throw HostError(.program, "ctr images list failed (exit 1)", cause: "connection refused") }
        return refs
    }
    func importArchive(_ path: String) throws -> [String] {
        let name = (path as NSString).lastPathComponent
        if let created = createsThenFails[name] {
            refs.formUnion(created)
            throw HostError(.program, "ctr images import failed (exit 1)", cause: "failed to unpack")
        }
        guard let unpacked = accepts[name] else { throw HostError(.program, "ctr images import failed (exit 1)", cause: "unexpected EOF") }
        imported.append(name)
        refs.formUnion(unpacked)
        // As containerd's CRI plugin does in k8s.io: the image is named by its ID too.
        refs.insert("sha256:" + String(repeating: String(name.count % 10), count: 64))
        return unpacked
    }
    func label(_ ref: String, _ label: String) throws { labels[ref, default: []].insert(label) }
    func remove(_ ref: String) throws {
        removed.append(ref)
        refs.remove(ref)
    }
}

@Suite struct ImageImporterTests {
    static func ociIndex(_ refs: String...) -> [UInt8] { ociIndex(list: refs) }

    static func ociIndex(list refs: [String]) -> [UInt8] {
        let manifests = refs.map { #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:00","size":1,"annotations":{"io.containerd.image.name":"\#($0)"}}"# }
        return Array(#"{"schemaVersion":2,"manifests":[\#(manifests.joined(separator: ","))]}"#.utf8)
    }

    static func archive(_ members: [(String, [UInt8])]) -> Data {
        Data(ArchiveFixture.tar(members.map { (ArchiveFixture.header($0.0, size: $0.1.count), $0.1) }))
    }

    /// An OCI layout naming `ref`.
    static func oci(_ refs: String...) -> Data {
        archive([("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)), ("index.json", ociIndex(list: refs))])
    }

    func host(_ files: [String: Data]) throws -> TemporaryHost {
        let host = try TemporaryHost()
        try host.root.makeDirectory("/var/lib/kubeseed", mode: 0o755)
        try host.root.makeDirectory(ImageArchives.directory, mode: 0o700)
        for (name, data) in files { try host.root.writeAtomically("\(ImageArchives.directory)/\(name)", data, mode: 0o600) }
        return host
    }

    @Test func eachArchiveIsImportedOnceLabelledPinnedJournaledAndRemovedByReset() throws {
        let pause = Self.archive([("oci-layout", Array("{}".utf8)), ("index.json", Self.ociIndex("kubeseed.local/pause:3.4.1")), ("blobs/sha256/00", [1])])
        // (a docker archive's tag is normalized as containerd does: busybox:1 is docker.io/library/busybox:1)
        let busybox = Self.archive([("manifest.json", Array(#"[{"Config":"c.json","RepoTags":["busybox:1"],"Layers":[]}]"#.utf8))])
        let host = try host(["pause.oci.tar": pause, "busybox.tar": busybox, ".partial.tar": Data([1, 2]), "notes.txt": Data("x".utf8)])
        let store = FakeImageStore()
        store.refs = ["docker.io/library/already:1"]
        store.accepts = ["pause.oci.tar": ["kubeseed.local/pause:3.4.1"], "busybox.tar": ["docker.io/library/busybox:1"]]
        let journal = try ChangeJournal(root: host.root)
        let first = try ImageImporter(root: host.root, store: store).run(journal: journal)
        #expect(first.imported == ["busybox.tar", "pause.oci.tar"])
        #expect(first.refused.isEmpty)
        #expect(store.labels["kubeseed.local/pause:3.4.1"] == [ImageArchives.pinnedLabel])
        #expect(store.labels["docker.io/library/busybox:1"] == [ImageArchives.pinnedLabel])
        #expect(journal.records.contains(.imageImported("kubeseed.local/pause:3.4.1")))
        #expect(!journal.records.contains(.imageImported("docker.io/library/already:1")))

        // A second pass changes nothing.
        let second = try ImageImporter(root: host.root, store: store).run(journal: journal)
        #expect(second.imported.isEmpty && second.present == ["busybox.tar", "pause.oci.tar"])
        #expect(store.imported.count == 2)

        // Removed behind the agent's back (the kubelet's image GC): imported again.
        store.refs.remove("kubeseed.local/pause:3.4.1")
        let third = try ImageImporter(root: host.root, store: store).run(journal: journal)
        #expect(third.imported == ["pause.oci.tar"])

        // Reset removes what KubeSeed imported, and only that.
        var effects = host.effects
        effects.images = store
        _ = try HostReset(root: host.root, effects: effects, journal: ChangeJournal(root: host.root)).run()
        #expect(Set(store.removed.filter { !ImageArchives.isImageIDReference($0) }) == ["kubeseed.local/pause:3.4.1", "docker.io/library/busybox:1"])
        #expect(store.removed.filter(ImageArchives.isImageIDReference).count == 2, "the CRI plugin's ID names of what KubeSeed imported go too")
        #expect(store.refs == ["docker.io/library/already:1"])
    }

    @Test func aBadArchiveIsRefusedWithItsReasonAndTheOthersStillImport() throws {
        let good = Self.oci("kubeseed.local/pause:3.4.1")
        var lyingSize = ArchiveFixture.header("index.json", size: 0o77777777777)
        lyingSize += [UInt8](repeating: 0, count: 512)
        let cases: [(String, Data, String)] = [
            ("truncated.tar", good.prefix(1200), "truncated"),
            ("no-index.tar", Self.archive([("layer.tar", [1, 2, 3])]), "no oci-layout"),
            ("index-without-layout.tar", Self.archive([("index.json", Self.ociIndex("kubeseed.local/pause:3.4.1"))]), "no oci-layout"),
            ("unnamed.tar", Self.archive([("oci-layout", [1]), ("index.json", Array(#"{"schemaVersion":2,"manifests":[{"digest":"sha256:00"}]}"#.utf8))]), "names no image"),
            ("bad-name.tar", Self.oci("Not A Reference"), "give the full reference"),
            ("short-name.tar", Self.oci("busybox:1"), "like 'docker.io/library/busybox:1'"),
            ("not-json.tar", Self.archive([("oci-layout", [1]), ("index.json", Array("{".utf8))]), "not an OCI image index"),
            ("refused-by-containerd.tar", Self.oci("kubeseed.local/other:1"), "containerd refused it"),
            ("not-a-tar.tar", Data(repeating: 0x41, count: 2048), "checksum"),
            ("pax.tar", Data(ArchiveFixture.tar([(ArchiveFixture.header("pax", size: 0, type: "x"), [])])), "pax extended headers"),
            ("lying-size.tar", Data(lyingSize), "past the end of the file"),
            ("dot-dot.tar", Self.archive([("a/../index.json", Self.ociIndex("kubeseed.local/pause:3.4.1"))]), "not a clean path"),
            ("two-indexes.tar", Self.archive([("oci-layout", [1]), ("index.json", Self.ociIndex("kubeseed.local/a:1")), ("index.json", Self.ociIndex("kubeseed.local/b:1"))]), "appears twice"),
        ]
        var files = ["good.tar": good]
        for (name, data, _) in cases { files[name] = data }
        let host = try host(files)
        let store = FakeImageStore()
        store.accepts = ["good.tar": ["kubeseed.local/pause:3.4.1"]]
        let journal = try ChangeJournal(root: host.root)
        let outcome = try ImageImporter(root: host.root, store: store).run(journal: journal)
        #expect(outcome.imported == ["good.tar"])
        for (name, _, reason) in cases {
            let refusal = outcome.refused.first { $0.name == name }
            #expect(refusal?.reason.contains(reason) == true, "\(name): \(refusal?.reason ?? "not refused")")
        }
        #expect(store.imported == ["good.tar"])
        #expect(outcome.summary.contains("truncated.tar:"))
    }

    @Test func withSHA256SUMSEveryArchiveMustBeListedAndMatch() throws {
        let pause = Self.oci("kubeseed.local/pause:3.4.1")
        let other = Self.oci("kubeseed.local/other:1")
        let digest = ChangeJournal.sha256(pause)
        let sums = "\(digest)  pause.tar\n\(String(repeating: "0", count: 64))  changed.tar\n"
        let host = try host(["pause.tar": pause, "changed.tar": other, "unlisted.tar": other, ImageArchives.sumsFile: Data(sums.utf8)])
        let store = FakeImageStore()
        store.accepts = ["pause.tar": ["kubeseed.local/pause:3.4.1"], "changed.tar": ["kubeseed.local/other:1"], "unlisted.tar": ["kubeseed.local/other:1"]]
        let outcome = try ImageImporter(root: host.root, store: store).run(journal: try ChangeJournal(root: host.root))
        #expect(outcome.imported == ["pause.tar"])
        #expect(outcome.refused.first { $0.name == "changed.tar" }?.reason.contains("is not the") == true)
        #expect(outcome.refused.first { $0.name == "unlisted.tar" }?.reason == "not listed in SHA256SUMS")

        let broken = try self.host(["pause.tar": pause, ImageArchives.sumsFile: Data("not a sum line\n".utf8)])
        let refused = try ImageImporter(root: broken.root, store: store).run(journal: try ChangeJournal(root: broken.root))
        #expect(refused.imported.isEmpty && refused.refused.first?.reason.contains("SHA256SUMS line 1") == true)
    }

    @Test func containerdThatCannotBeAskedIsAnErrorAndNothingIsJournaled() throws {
        let host = try host(["pause.tar": Self.oci("kubeseed.local/pause:3.4.1")])
        let store = FakeImageStore()
        store.down = true
        let journal = try ChangeJournal(root: host.root)
        #expect(throws: HostError.self) { try ImageImporter(root: host.root, store: store).run(journal: journal) }
        #expect(journal.records.isEmpty)
    }

    /// Nothing half-imported, nothing of the operator's replaced: a failed unpack and names the index did not
    /// declare are taken out again, and an image of the same name KubeSeed did not import is left alone.
    @Test func aFailedOrSurprisingImportLeavesNothingAndTheOperatorsImagesAreNotReplaced() throws {
        let host = try host(["half.tar": Self.oci("kubeseed.local/half:1"), "surprise.tar": Self.oci("kubeseed.local/declared:1"),
                             "theirs.tar": Self.oci("kubeseed.local/theirs:1", "kubeseed.local/new:1")])
        let store = FakeImageStore()
        store.refs = ["kubeseed.local/theirs:1"]
        store.createsThenFails = ["half.tar": ["kubeseed.local/half:1"]]
        store.accepts = ["surprise.tar": ["kubeseed.local/declared:1", "kubeseed.local/undeclared:1"], "theirs.tar": ["kubeseed.local/theirs:1", "kubeseed.local/new:1"]]
        let outcome = try ImageImporter(root: host.root, store: store).run(journal: try ChangeJournal(root: host.root))
        #expect(outcome.imported.isEmpty)
        #expect(outcome.refused.first { $0.name == "half.tar" }?.reason.contains("containerd refused it") == true)
        #expect(outcome.refused.first { $0.name == "surprise.tar" }?.reason.contains("'kubeseed.local/undeclared:1', which the archive's index does not") == true)
        #expect(outcome.refused.first { $0.name == "theirs.tar" }?.reason.contains("which KubeSeed did not import") == true)
        #expect(store.refs == ["kubeseed.local/theirs:1"], "only the operator's image is left")
        #expect(!store.imported.contains("theirs.tar"))
    }

    @Test(arguments: [
        ("busybox:1", "docker.io/library/busybox:1"), ("library/busybox:1", "docker.io/library/busybox:1"),
        ("kubeseed.local/pause:3.4.1", "kubeseed.local/pause:3.4.1"), ("localhost/x:1", "localhost/x:1"), ("host:5000/x:1", "host:5000/x:1"),
        ("busybox", "docker.io/library/busybox:latest"), ("docker.io/busybox:1", "docker.io/library/busybox:1"), ("myorg/app:1", "docker.io/myorg/app:1"),
        ("host:5000/x", "host:5000/x:latest"),
    ])
    func referencesAreNormalizedAsContainerdStoresThem(_ given: String, _ stored: String) {
        #expect(ImageArchives.normalized(given) == stored)
    }

    @Test func ctrsImportOutputIsRead() {
        let output = "unpacking kubeseed.local/pause:3.4.1 (sha256:5179)...done\nunpacking docker.io/library/busybox:1 (sha256:aa)...done\n"
        #expect(ImageArchives.unpackedReferences(output) == ["kubeseed.local/pause:3.4.1", "docker.io/library/busybox:1"])
    }
}
