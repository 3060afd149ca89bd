import Glibc

/// A failure to read or change the host, with what was attempted and the system's reason.
public struct HostError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case file, kmod, dbus, swap, netlink, systemJob, journal, busy
    }

    public var code: Code
    /// What was being done, as an operator would say it ("write /etc/fstab").
    public var message: String
    /// The underlying cause: `errno` as text, or a D-Bus error name and message.
    public var cause: String?
    /// The errno of a failed system call, when that is the cause.
    public var errnoValue: Int32?

    public init(_ code: Code, _ message: String, cause: String? = nil, errnoValue: Int32? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
        self.errnoValue = errnoValue
    }

    /// An error from a failed system call, with errno's name and text.
    public static func errno(_ code: Code, _ message: String, _ value: Int32) -> HostError {
        HostError(code, message, cause: "\(String(cString: strerror(value))) (errno \(value))", errnoValue: value)
    }

    public var description: String {
        cause.map { "\(message): \($0)" } ?? message
    }
}

/// Runs a system call that returns -1 and sets errno on failure, retrying EINTR.
/// errno is read here, right after the call, and nowhere else.
@discardableResult
func systemCall(_ code: HostError.Code, _ message: @autoclosure () -> String, _ call: () -> Int32) throws -> Int32 {
    while true {
        let result = call()
        if result >= 0 { return result }
        let error = Glibc.errno
        if error == EINTR { continue }
        throw HostError.errno(code, message(), error)
    }
}

/// For library calls that return a negative errno instead of setting errno (libkmod, sd-bus).
@discardableResult
func negativeErrnoCall(_ code: HostError.Code, _ message: @autoclosure () -> String, _ call: () -> Int32) throws -> Int32 {
    let result = call()
    if result < 0 { throw HostError.errno(code, message(), -result) }
    return result
}
