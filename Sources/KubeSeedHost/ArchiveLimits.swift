/// Upper bounds on what reading a release archive may cost, whatever the archive holds: memory stays
/// flat (a bounded header buffer and fixed-size I/O buffers), disk holds at most `memberBytes` per
/// wanted binary, and no more than `decompressedBytes` are inflated. An archive past a bound is
/// refused with a `HostError` naming the member and the bound; nothing it held is installed.
public struct ArchiveLimits: Sendable, Equatable {
    /// Largest pax extended header or GNU long-name entry accepted: 64 KiB. Real ones hold a path
    /// and a few times, well under 1 KiB; each is held in memory until its member's header is read.
    public static let defaultMetadataBytes = 64 << 10
    /// Largest wanted member accepted: 1 GiB. The largest Kubernetes binary (kube-apiserver) is
    /// about 100 MB; this is what a member may put on disk before it is refused.
    public static let defaultMemberBytes = 1 << 30
    /// Most bytes inflated from one archive, members skipped included: 8 GiB, several times what a
    /// server archive (binaries and image tarballs) inflates to; bounds the time a gzip bomb can cost.
    public static let defaultDecompressedBytes = 8 << 30

    /// Largest pax extended header or GNU long-name entry, in bytes.
    public var metadataBytes: Int
    /// Largest wanted member (a binary that would be installed), in bytes.
    public var memberBytes: Int
    /// Most bytes inflated from the whole archive, in bytes.
    public var decompressedBytes: Int

    public init(metadataBytes: Int = defaultMetadataBytes, memberBytes: Int = defaultMemberBytes,
                decompressedBytes: Int = defaultDecompressedBytes) {
        self.metadataBytes = metadataBytes
        self.memberBytes = memberBytes
        self.decompressedBytes = decompressedBytes
    }
}
