import Foundation
import KubeSeedCore

/// Private keys made on other threads while the caller goes on (`seed init` makes its PKI's keys while
/// it prepares the node, which waits mostly on the kernel and systemd). `take()` waits for them.
public final class PrefetchedKeys: @unchecked Sendable {
    public let algorithm: KeyAlgorithm
    private let done = NSCondition()
    private var result: Result<[PrivateKey], any Error>?
    private var taken = false

    /// Starts making `count` keys of `algorithm` at once on every core.
    public init(_ algorithm: KeyAlgorithm, count: Int) {
        self.algorithm = algorithm
        let thread = Thread { [self] in
            let made = Result { try PrivateKey.generate(algorithm, count: count) }
            done.withLock {
                result = made
                done.broadcast()
            }
        }
        thread.name = "kubeseed-keys"
        thread.start()
    }

    /// Keys made already, handed over as if made ahead.
    public init(_ keys: [PrivateKey], algorithm: KeyAlgorithm) {
        self.algorithm = algorithm
        result = .success(keys)
    }

    /// The keys, once made (waits for them); empty after the first call, so no key serves twice.
    public func take() throws -> [PrivateKey] {
        try done.withLock {
            while result == nil { done.wait() }
            guard !taken else { return [] }
            taken = true
            return try result!.get()
        }
    }
}
