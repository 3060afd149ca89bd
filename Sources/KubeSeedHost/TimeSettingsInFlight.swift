import Foundation
import KubeSeedCore

/// A list's time settings (`set time zone`, `set RTC`), made on their own thread while the list's other
/// steps run: each is a call to timedated, which systemd starts on the first call (a process start, the
/// slowest step of a first run after the daemon-reload), and none needs what the other steps make.
/// `finish()` waits for them.
final class TimeSettingsInFlight: @unchecked Sendable {
    /// The settings, in order.
    let steps: [Step]
    private let done = NSCondition()
    private var finished = false
    private var performed: [StepRunner.PerformedStep] = []
    private var failure: (step: Step, error: any Error)?

    /// Starts `steps` (time settings, in order) on a thread of their own; the first that fails ends them.
    init(_ steps: [Step], _ time: any TimeDateControl) {
        self.steps = steps
        let time = UncheckedTimeControl(time)
        let thread = Thread { [self] in
            var performed: [StepRunner.PerformedStep] = []
            var failure: (step: Step, error: any Error)?
            for step in steps {
                let started = StepRunner.monotonicSeconds()
                do {
                    try Self.perform(step, time.control)
                    performed.append(StepRunner.PerformedStep(step: step, seconds: StepRunner.monotonicSeconds() - started))
                } catch {
                    failure = (step, error)
                    break
                }
            }
            done.withLock {
                self.performed = performed
                self.failure = failure
                finished = true
                done.broadcast()
            }
        }
        thread.name = "kubeseed-time"
        thread.start()
    }

    /// Waits for the settings: those made, and the one that failed with why.
    func finish() -> (performed: [StepRunner.PerformedStep], failure: (step: Step, error: any Error)?) {
        done.withLock {
            while !finished { done.wait() }
            return (performed, failure)
        }
    }

    private static func perform(_ step: Step, _ time: any TimeDateControl) throws {
        switch step {
        case .setTimezone(let zone): try time.setTimezone(zone)
        case .setLocalRTC(let local): try time.setLocalRTC(local)
        default: preconditionFailure("not a time setting: \(step)")
        }
    }

    /// The caller does not touch the control (its bus connection) until `finish()` returned.
    private final class UncheckedTimeControl: @unchecked Sendable {
        let control: any TimeDateControl
        init(_ control: any TimeDateControl) { self.control = control }
    }
}

/// Time settings on their way from one step runner to another (`StepRunner.handOverTimeSettings`). One
/// never taken over is waited for when it goes: timedated's calls never outlive the session that journaled them.
public final class TimeSettingsHandOff {
    /// The settings, in order.
    public let steps: [Step]
    private var inFlight: TimeSettingsInFlight?

    init(_ inFlight: TimeSettingsInFlight) {
        self.steps = inFlight.steps
        self.inFlight = inFlight
    }

    /// The settings, for the runner taking them over; this hand-off no longer waits for them.
    func take() -> TimeSettingsInFlight? {
        defer { inFlight = nil }
        return inFlight
    }

    deinit { _ = inFlight?.finish() }
}
