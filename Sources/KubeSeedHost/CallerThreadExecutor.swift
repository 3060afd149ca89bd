import Foundation

/// Runs asynchronous code on the thread that calls `run`, and nowhere else: the task's jobs (its own, its
/// children's, the resumptions of continuations other threads complete) are queued here and run by that
/// thread until the task ends. A process that does its async work this way never starts the thread pool
/// behind Swift's global executor, whose monitor otherwise wakes the process every second for as long as
/// it lives: the idle node agent sleeps in the kernel with one thread and no periodic wake-up.
public final class CallerThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finished = false

    public init() {}

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` to its end on the calling thread and returns what it returned or throws what it threw.
    /// Nothing of it runs on another thread, so it needs not be Sendable. Not re-entrant. `body` must not be
    /// isolated to an actor (the main actor's queue is not drained here): pass a nonisolated function.
    public func run<T>(_ body: () async throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { body in
            let operation = Unchecked(body)
            let outcome = Unchecked<Result<T, any Error>?>(nil)
            finished = false
            Task(executorPreference: self) {
                do { outcome.value = .success(try await operation.value()) } catch { outcome.value = .failure(error) }
                self.finish()
            }
            drain()
            return try outcome.value!.get()
        }
    }

    private func finish() {
        condition.lock()
        finished = true
        condition.signal()
        condition.unlock()
    }

    /// Runs queued jobs until the task has finished and nothing is left.
    private func drain() {
        while true {
            condition.lock()
            while jobs.isEmpty && !finished { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// A value handed to the task: only the calling thread ever touches it.
    private final class Unchecked<Value>: @unchecked Sendable {
        var value: Value
        init(_ value: Value) { self.value = value }
    }
}
