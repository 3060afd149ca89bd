import Glibc

/// One line from standard input, not echoed when it is a terminal (a key typed there must not stay on
/// the screen or in a terminal log).
public func readSecretLine(prompt: String) -> String? {
    guard isatty(0) != 0 else { return readLine(strippingNewline: true) }
    var saved = termios()
    guard tcgetattr(0, &saved) == 0 else { return readLine(strippingNewline: true) }
    var silent = saved
    silent.c_lflag &= ~tcflag_t(ECHO)
    writeToStandardError(prompt)
    tcsetattr(0, TCSAFLUSH, &silent)
    defer {
        tcsetattr(0, TCSAFLUSH, &saved)
        writeToStandardError("\n")
    }
    return readLine(strippingNewline: true)
}

private func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = write(2, &bytes, bytes.count)
}
