import Foundation
import Testing
@testable import KubeSeedCore
@testable import KubeSeedHost

/// containerd's image store as a fake (unit tests of the importer's logic: which archives are read,
/// checked, imported, journaled and removed again). The VM's real-cluster run imports into real containerd.
final class FakeImageStore: ImageStore {
    var refs: Set<String> = []
    var imported: [String] = []
    var labels: [String: Set<String>] = [:]
    var removed: [String] = []
    /// Archive file name → what `ctr images import` would unpack (missing: containerd refuses it).
    var accepts: [String: [String]] = [:]
    var down = false

    func references() throws -> Set<String> {
        if down { throw HostError(.program, "ctr images list failed (exit 1)", cause: "connection refused") }
        return refs
    }
    func importArchive(_ path: String) throws -> [String] {
        let name = (path as NSString).lastPathComponent
        guard let unpacked = accepts[name] else { throw HostError(.program, "ctr images import failed (exit 1)", cause: "unexpected EOF") }
        imported.append(name)
        refs.formUnion(unpacked)
        return unpacked
    }
    func label(_ ref: String, _ label: String) throws { labels[ref, default: []].insert(label) }
    func remove(_ ref: String) throws {
        removed.append(ref)
        refs.remove(ref)
    }
}

@Suite struct ImageImporterTests {
    static func ociIndex(_ ref: String) -> [UInt8] {
        Array(#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:00","size":1,"annotations":{"io.containerd.image.name":"\#(ref)"}}]}"#.utf8)
    }

    static func archive(_ members: [(String, [UInt8])]) -> Data {
        Data(ArchiveFixture.tar(members.map { (ArchiveFixture.header($0.0, size: $0.1.count), $0.1) }))
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
        #expect(Set(store.removed) == ["kubeseed.local/pause:3.4.1", "docker.io/library/busybox:1"])
        #expect(store.refs == ["docker.io/library/already:1"])
    }

    @Test func aBadArchiveIsRefusedWithItsReasonAndTheOthersStillImport() throws {
        let good = Self.archive([("index.json", Self.ociIndex("kubeseed.local/pause:3.4.1"))])
        let cases: [(String, Data, String)] = [
            ("truncated.tar", good.prefix(700), "truncated"),
            ("no-index.tar", Self.archive([("layer.tar", [1, 2, 3])]), "no index.json"),
            ("unnamed.tar", Self.archive([("index.json", Array(#"{"schemaVersion":2,"manifests":[{"digest":"sha256:00"}]}"#.utf8))]), "names no image"),
            ("bad-name.tar", Self.archive([("index.json", Self.ociIndex("Not A Reference"))]), "not an image reference"),
            ("not-json.tar", Self.archive([("index.json", Array("{".utf8))]), "not an OCI image index"),
            ("refused-by-containerd.tar", Self.archive([("index.json", Self.ociIndex("kubeseed.local/other:1"))]), "containerd refused it"),
            ("not-a-tar.tar", Data(repeating: 0x41, count: 2048), "checksum"),
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
        let pause = Self.archive([("index.json", Self.ociIndex("kubeseed.local/pause:3.4.1"))])
        let other = Self.archive([("index.json", Self.ociIndex("kubeseed.local/other:1"))])
        let digest = StepRunner.sha256(pause)
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
        let host = try host(["pause.tar": Self.archive([("index.json", Self.ociIndex("kubeseed.local/pause:3.4.1"))])])
        let store = FakeImageStore()
        store.down = true
        let journal = try ChangeJournal(root: host.root)
        #expect(throws: HostError.self) { try ImageImporter(root: host.root, store: store).run(journal: journal) }
        #expect(journal.records.isEmpty)
    }

    @Test(arguments: [
        ("busybox:1", "docker.io/library/busybox:1"), ("library/busybox:1", "docker.io/library/busybox:1"),
        ("kubeseed.local/pause:3.4.1", "kubeseed.local/pause:3.4.1"), ("localhost/x:1", "localhost/x:1"), ("host:5000/x:1", "host:5000/x:1"),
    ])
    func referencesAreNormalizedAsContainerdStoresThem(_ given: String, _ stored: String) {
        #expect(ImageArchives.normalized(given) == stored)
    }

    @Test func ctrsImportOutputIsRead() {
        let output = "unpacking kubeseed.local/pause:3.4.1 (sha256:5179)...done\nunpacking docker.io/library/busybox:1 (sha256:aa)...done\n"
        #expect(ImageArchives.unpackedReferences(output) == ["kubeseed.local/pause:3.4.1", "docker.io/library/busybox:1"])
    }
}
