import Glibc

/// A failure to read or change the host, with what was attempted and the system's reason.
public struct HostError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case file, kmod, dbus, swap, netlink, systemJob, journal, busy, program
    }

    public var code: Code
    /// What was being done, as an operator would say it ("write /etc/fstab").
    public var message: String
    /// The underlying cause: `errno` as text, or a D-Bus error name and message.
    public var cause: String?
    /// The errno of a failed system call, when that is the cause.
    public var errnoValue: Int32?
    /// The D-Bus error name (`sd_bus_error.name`, e.g. `org.freedesktop.systemd1.NoSuchUnit`) when
    /// the bus or the service replied with an error; compare this, never the text of `cause`.
    public var dbusErrorName: String?

    public init(_ code: Code, _ message: String, cause: String? = nil, errnoValue: Int32? = nil, dbusErrorName: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
        self.errnoValue = errnoValue
        self.dbusErrorName = dbusErrorName
    }

    /// An error from a failed system call, with errno's name and text.
    public static func errno(_ code: Code, _ message: String, _ value: Int32) -> HostError {
        HostError(code, message, cause: "\(String(cString: strerror(value))) (errno \(value))", errnoValue: value)
    }

    /// Whether the same action may succeed if tried again later, with nothing changed in the
    /// configuration: a systemd job that failed or timed out, a bus call, a held host lock, or a system
    /// call that failed with `EAGAIN`, `EBUSY` or `EINTR`. Other errno values (`ENOENT`, `EACCES`, …),
    /// errors without an errno and a damaged change journal need someone to act first.
    public var isRetryable: Bool {
        switch code {
        case .systemJob, .dbus, .busy:
            return true
        case .journal:
            return false
        case .program:
            // A program that could not start or exited non-zero (containerd's ctr, a binary's --version).
            return false
        case .file, .kmod, .swap, .netlink:
            guard let errnoValue else { return false }
            return errnoValue == EAGAIN || errnoValue == EBUSY || errnoValue == EINTR
        }
    }

    public var description: String {
        cause.map { "\(message): \($0)" } ?? message
    }
}

/// Runs a system call that returns -1 and sets errno on failure, retrying EINTR unless told not to
/// (a call that only reports an errno it was handed, like `mnl_cb_run` replaying a kernel reply,
/// would return the same EINTR forever). Generic over the result (`Int32` from `open`, `Int` from
/// `read`), so no call narrows a byte count. errno is read here, right after the call, and nowhere else.
@discardableResult
func systemCall<Result: FixedWidthInteger & SignedInteger>(
    _ code: HostError.Code, _ message: @autoclosure () -> String, retryingInterrupted: Bool = true,
    _ call: () -> Result
) throws -> Result {
    while true {
        let result = call()
        if result >= 0 { return result }
        let error = Glibc.errno
        if error == EINTR && retryingInterrupted { continue }
        throw HostError.errno(code, message(), error)
    }
}

/// For library calls that return a negative errno instead of setting errno (libkmod, sd-bus).
@discardableResult
func negativeErrnoCall<Result: FixedWidthInteger & SignedInteger>(
    _ code: HostError.Code, _ message: @autoclosure () -> String, _ call: () -> Result
) throws -> Result {
    let result = call()
    if result < 0 { throw HostError.errno(code, message(), Int32(clamping: result.magnitude)) }
    return result
}
