import FuzzSupport
import KubeSeedCore

/// ClusterConfig.parse on any text. Findings: a trap, a memory error, a hang or blow-up, and an error
/// that is not a `ConfigError`.
@main enum FuzzClusterConfigMain {
    static func main() { Fuzz.main { data, size in fuzz(data ?? Fuzz.empty, size) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        _ = try ClusterConfig.parse(Fuzz.text(data, size), file: "/etc/kubeseed/cluster.yaml")
    } catch is ConfigError {
    } catch {
        Fuzz.unexpected("cluster-config", error)
    }
    return 0
}
