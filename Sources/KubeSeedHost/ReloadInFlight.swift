import Foundation
import KubeSeedCore

/// A daemon-reload made on its own thread while the caller goes on with steps that need nothing from
/// systemd (node preparation's module loads and sysctls): PID 1 re-reads every unit file on one core
/// while the kernel checks and links the modules on the other. `finish()` waits for it.
final class ReloadInFlight: @unchecked Sendable {
    private let done = NSCondition()
    private var outcome: Result<Double, any Error>?

    /// Starts the reload; the caller does not touch `services` (its bus connection) until `finish()` returned.
    init(_ services: any ServiceManager) {
        let services = UncheckedServices(services)
        let thread = Thread { [self] in
            let started = StepRunner.monotonicSeconds()
            let result = Result { try services.manager.reload() }.map { StepRunner.monotonicSeconds() - started }
            done.withLock {
                outcome = result
                done.broadcast()
            }
        }
        thread.name = "kubeseed-reload"
        thread.start()
    }

    /// Waits for the reload: how long it took, or why it failed.
    func finish() -> Result<Double, any Error> {
        done.withLock {
            while outcome == nil { done.wait() }
            return outcome!
        }
    }

    private final class UncheckedServices: @unchecked Sendable {
        let manager: any ServiceManager
        init(_ manager: any ServiceManager) { self.manager = manager }
    }
}
