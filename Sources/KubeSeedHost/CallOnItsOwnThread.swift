import Foundation

/// A call made on a thread of its own while the caller goes on (timedated's calls, a daemon-reload);
/// `wait()` returns what it returned. The call's captures are the caller's to keep apart: it touches
/// nothing the caller uses until `wait()` returned.
final class CallOnItsOwnThread<Value>: @unchecked Sendable {
    private let done = NSCondition()
    private var value: Value?

    init(name: String, _ body: @escaping () -> Value) {
        let body = Unchecked(body)
        let thread = Thread { [self] in
            let result = body.value()
            done.withLock {
                value = result
                done.broadcast()
            }
        }
        thread.name = name
        thread.start()
    }

    /// Waits for the call to return, and what it returned (again on a later call).
    func wait() -> Value {
        done.withLock {
            while value == nil { done.wait() }
            return value!
        }
    }
}

/// A value handed to another thread that only it uses until the handing thread waits for it.
struct Unchecked<Wrapped>: @unchecked Sendable {
    let value: Wrapped
    init(_ value: Wrapped) { self.value = value }
}
