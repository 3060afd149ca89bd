import FuzzSupport
import KubeSeedCore

/// AgentConfig.parse on any text. Findings: a trap, a memory error, a hang or blow-up, and an error
/// that is not a `ConfigError`.
@main enum FuzzAgentConfigMain {
    static func main() { Fuzz.main { data, size in fuzz(data ?? Fuzz.empty, size) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        _ = try AgentConfig.parse(Fuzz.text(data, size), file: "/etc/kubeseed/agent.yaml")
    } catch is ConfigError {
    } catch {
        Fuzz.unexpected("agent-config", error)
    }
    return 0
}
