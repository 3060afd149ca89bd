import CLinux
import Glibc

/// swapon(2) / swapoff(2).
public final class LiveSwap: SwapControl {
    public init() {}

    public func swapOff(_ path: String) throws {
        try systemCall(.swap, "swapoff \(path)") { swapoff(path) }
    }

    public func swapOn(_ path: String) throws {
        try systemCall(.swap, "swapon \(path)") { swapon(path, 0) }
    }
}
