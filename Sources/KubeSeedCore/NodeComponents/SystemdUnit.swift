/// A systemd unit file and the one writer every unit KubeSeed installs goes through (etcd, the control
/// plane, kubelet, kube-proxy). Values are escaped by systemd's rules here, so no value can add a line,
/// a command-line word or a specifier: `%` is doubled everywhere; on `ExecStart=` each argument is one
/// word (quoted when it holds a space, a quote or a backslash, C-escaped when it holds a control
/// character) and `$` is doubled so systemd does not substitute environment variables.
public struct SystemdUnit: Sendable, Equatable {
    /// One `Key=value` line.
    public enum Value: Sendable, Equatable {
        /// Text used as is apart from specifier escaping (`Description=`, `Restart=`, unit lists, paths).
        case text(String)
        /// A command line: the executable and its arguments, each kept one word.
        case command(String, [String])
    }

    public struct Section: Sendable, Equatable {
        public var name: String
        public var entries: [(key: String, value: Value)]

        public init(_ name: String, _ entries: [(key: String, value: Value)]) {
            self.name = name
            self.entries = entries
        }

        public static func == (a: Section, b: Section) -> Bool {
            a.name == b.name && a.entries.map(\.key) == b.entries.map(\.key) && a.entries.map(\.value) == b.entries.map(\.value)
        }
    }

    /// A comment line (`# …`) at the top.
    public var comment: String
    public var sections: [Section]

    public init(comment: String, _ sections: [Section]) {
        self.comment = comment
        self.sections = sections
    }

    /// The unit file's text.
    public func render() -> String {
        var text = "# " + Self.escapeSpecifiers(Self.oneLine(comment)) + "\n"
        for (index, section) in sections.enumerated() {
            if index > 0 { text += "\n" }
            text += "[\(section.name)]\n"
            for (key, value) in section.entries {
                switch value {
                case .text(let value):
                    text += "\(key)=\(Self.escapeSpecifiers(Self.oneLine(value)))\n"
                case .command(let executable, let arguments):
                    text += "\(key)=" + ([executable] + arguments).map(Self.commandWord).joined(separator: " \\\n  ") + "\n"
                }
            }
        }
        return text
    }

    /// `%` starts a specifier everywhere in a unit file (`%H` is the host name): `%%` is a literal `%`.
    public static func escapeSpecifiers(_ value: String) -> String {
        value.replacingOccurrences(of: "%", with: "%%")
    }

    /// One word of an `ExecStart=` line as systemd splits it back: quoted when it holds anything systemd
    /// would split on or unescape, with C escapes inside the quotes; `%` and `$` doubled.
    public static func commandWord(_ word: String) -> String {
        // A lone `;` would separate two commands, quoted or not: systemd's own escape keeps it a word.
        if word == ";" { return "\\;" }
        precondition(!word.unicodeScalars.contains("\u{0}"), "a NUL reached a unit file unvalidated")
        var escaped = ""
        // systemd drops a continuation line that starts with `#` or `;` as a comment: quote such a word.
        var needsQuotes = word.isEmpty || word.hasPrefix("#") || word.hasPrefix(";")
        for scalar in word.unicodeScalars {
            switch scalar {
            case "%": escaped += "%%"
            case "$": escaped += "$$"
            case "\\": escaped += "\\\\"; needsQuotes = true
            case "\"": escaped += "\\\""; needsQuotes = true
            case "'": escaped += "\\'"; needsQuotes = true
            case " ": escaped += " "; needsQuotes = true
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f || (0x80...0x9f).contains(scalar.value)
                    || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    // \xNN is one raw byte to systemd; above 0x7f the character must stay UTF-8: \uNNNN.
                    escaped += scalar.value < 0x80 ? "\\x" + hex2(scalar.value) : "\\u" + hex4(scalar.value)
                    needsQuotes = true
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return needsQuotes ? "\"\(escaped)\"" : escaped
    }

    /// Values other than command words cannot carry a line break in a unit file. Every path and name is
    /// validated before it gets here; one that still holds a control character is a KubeSeed bug, and
    /// writing it would let it add a directive, so this stops the process instead.
    static func oneLine(_ value: String) -> String {
        precondition(!value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f || (0x80...0x9f).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029 },
                     "a value with a control character reached a unit file unvalidated")
        return value
    }

    private static func hex2(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 2 - digits.count)) + digits
    }

    private static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
