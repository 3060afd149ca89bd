import Glibc

/// How many bytes of a secret are read at most: a certificate key is 64 hex digits, and a wrong path
/// (`/dev/zero`, a log) or a pasted file must neither hang nor fill memory.
public let secretInputLimit = 256

/// The terminal settings to put back if a signal ends the process while echo is off.
nonisolated(unsafe) private var savedTerminal = termios()
nonisolated(unsafe) private var terminalSaved: sig_atomic_t = 0
// Not SIGTSTP: a stopped read goes on with echo still off after `fg`.
private let restoringSignals = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

private func restoreTerminalAndReraise(_ signal: Int32) {
    if terminalSaved != 0 { tcsetattr(0, TCSAFLUSH, &savedTerminal) }
    Glibc.signal(signal, SIG_DFL)
    raise(signal)
}

/// One line from standard input (at most `secretInputLimit` bytes; `nil` when longer or unreadable),
/// not echoed when it is a terminal (a key typed there must not stay on the screen or in a terminal
/// log). Echo comes back on every way out: the line read, end of input, Ctrl-C and other signals.
public func readSecretLine(prompt: String) -> String? {
    guard isatty(0) != 0 else { return readLimitedLine(fd: 0) }
    guard tcgetattr(0, &savedTerminal) == 0 else { return readLimitedLine(fd: 0) }
    var silent = savedTerminal
    silent.c_lflag &= ~tcflag_t(ECHO)
    writeToStandardError(prompt)
    terminalSaved = 1
    var previous: [Int32: sighandler_t?] = [:]
    for signal in restoringSignals { previous[signal] = Glibc.signal(signal, restoreTerminalAndReraise) }
    tcsetattr(0, TCSAFLUSH, &silent)
    defer {
        tcsetattr(0, TCSAFLUSH, &savedTerminal)
        terminalSaved = 0
        for (signal, handler) in previous { Glibc.signal(signal, handler ?? SIG_DFL) }
        writeToStandardError("\n")
    }
    return readLimitedLine(fd: 0)
}

/// Reads up to a newline or the end, one byte at a time (nothing past the line is consumed); `nil`
/// past `secretInputLimit` bytes or on a read error.
func readLimitedLine(fd: Int32) -> String? {
    var bytes: [UInt8] = []
    var byte: UInt8 = 0
    while true {
        let count = read(fd, &byte, 1)
        if count < 0 && errno == EINTR { continue }
        if count < 0 { return nil }
        if count == 0 || byte == 10 { break }
        bytes.append(byte)
        if bytes.count > secretInputLimit { return nil }
    }
    if bytes.last == 13 { bytes.removeLast() }
    return String(decoding: bytes, as: UTF8.self)
}

/// The content of a file holding a secret (a certificate key): a regular file, readable by its owner
/// only (a key others can read is no longer secret), at most `secretInputLimit` bytes.
public func readSecretFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
    guard fd >= 0 else { throw HostError.errno(.file, "open \(path)", errno) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw HostError.errno(.file, "stat \(path)", errno) }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw HostError(.file, "\(path) is not a regular file", cause: "put the key in a file of its own (mode 0600)") }
    guard st.st_mode & 0o077 == 0 else {
        throw HostError(.file, "\(path) is readable or writable by group or others (mode \(String(st.st_mode & 0o777, radix: 8)))",
                        cause: "chmod 600 \(path): a key others can read is no longer secret")
    }
    var buffer = [UInt8](repeating: 0, count: secretInputLimit + 1)
    var total = 0
    while total < buffer.count {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, $0.count - total) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { throw HostError.errno(.file, "read \(path)", errno) }
        if count == 0 { break }
        total += count
    }
    guard total <= secretInputLimit else { throw HostError(.file, "\(path) holds more than \(secretInputLimit) bytes", cause: "a certificate key is 64 hex digits") }
    return String(decoding: buffer[..<total], as: UTF8.self)
}

private func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = write(2, &bytes, bytes.count)
}
