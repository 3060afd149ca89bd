/// Pure renderers and editors for the files node preparation owns or edits.
public enum Render {
    public static let header = "# Written by KubeSeed (seed-agent apply); 'seed-agent reset' restores what was here.\n"

    /// `/etc/modules-load.d/kubeseed.conf`: one module a line, in load order.
    public static func modulesLoad(_ modules: [String]) -> String {
        header + modules.map { $0 + "\n" }.joined()
    }

    /// `/etc/sysctl.d/kubeseed.conf`: `key = value` lines, in order.
    public static func sysctlConf(_ settings: [SysctlSetting]) -> String {
        header + settings.map { "\($0.key) = \($0.value)\n" }.joined()
    }

    /// Marker put in front of fstab swap lines KubeSeed disabled.
    public static let fstabMarker = "#kubeseed-swap# "

    /// The swap entries of an fstab that are active (not commented out).
    public static func fstabSwapEntries(_ fstab: String) -> [String] {
        fstab.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3, !fields[0].hasPrefix("#"), fields[2] == "swap" else { return nil }
            return String(fields[0])
        }
    }

    /// `fstab` with the lines KubeSeed commented out active again, every other byte as it is (lines
    /// the operator added or changed since stay).
    public static func fstabRestoringSwap(_ fstab: String) -> String {
        fstab.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix(fstabMarker) ? String(line.dropFirst(fstabMarker.count)) : String(line)
        }.joined(separator: "\n")
    }

    /// The fstab with every active swap line commented out (other bytes untouched).
    public static func fstabWithoutSwap(_ fstab: String) -> String {
        fstab.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3, !fields[0].hasPrefix("#"), fields[2] == "swap" else { return String(line) }
            return fstabMarker + line
        }.joined(separator: "\n")
    }

    /// The `SELINUX=` value of an `/etc/selinux/config`, if any.
    public static func selinuxConfigMode(_ text: String) -> String? {
        for line in text.split(separator: "\n") {
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.hasPrefix("SELINUX=") {
                return String(trimmed.dropFirst("SELINUX=".count)).trimmingSpaces()
            }
        }
        return nil
    }

    /// The config with `SELINUX=` set to `mode` (the line replaced in place, or appended).
    public static func selinuxConfig(_ text: String, mode: SELinuxMode) -> String {
        var replaced = false
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            if !replaced, trimmed.hasPrefix("SELINUX=") {
                replaced = true
                return "SELINUX=\(mode.rawValue)"
            }
            return String(line)
        }
        if !replaced {
            if lines.last == "" { lines.removeLast() }
            lines.append("SELINUX=\(mode.rawValue)")
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    /// systemd's path escaping (`systemd-escape --path`), e.g. `/dev/disk/by-uuid/ab-1` →
    /// `dev-disk-by\x2duuid-ab\x2d1`.
    public static func escapedUnitPath(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { !$0.isEmpty }
        if parts.isEmpty { return "-" }
        let joined = parts.joined(separator: "/")
        var out = ""
        for (index, byte) in joined.utf8.enumerated() {
            let c = Character(Unicode.Scalar(byte))
            if byte == UInt8(ascii: "/") {
                out += "-"
            } else if (byte == UInt8(ascii: ".") && index == 0) || !(c.isLetterOrDigitASCII || c == ":" || c == "_" || c == ".") {
                out += "\\x" + String(byte, radix: 16).leftPadded(to: 2)
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// The swap unit systemd makes for an fstab or /proc/swaps device (`UUID=`/`LABEL=` resolved
    /// to their /dev/disk paths, as the fstab generator does).
    public static func swapUnitName(forDevice device: String) -> String? {
        let path: String
        if device.hasPrefix("UUID=") { path = "/dev/disk/by-uuid/" + device.dropFirst(5) }
        else if device.hasPrefix("LABEL=") { path = "/dev/disk/by-label/" + device.dropFirst(6) }
        else if device.hasPrefix("PARTUUID=") { path = "/dev/disk/by-partuuid/" + device.dropFirst(9) }
        else if device.hasPrefix("/") { path = device }
        else { return nil }
        return escapedUnitPath(path) + ".swap"
    }

    /// Decodes the octal escapes (`\040`) the kernel uses for spaces in `/proc/swaps` and fstab.
    public static func unescapeOctal(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var bytes: [UInt8] = []
        let utf8 = Array(s.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count,
               let value = UInt8(String(decoding: utf8[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Paths in a `/proc/swaps` text (header line skipped).
    public static func procSwapsPaths(_ text: String) -> [String] {
        text.split(separator: "\n").dropFirst().compactMap { line in
            line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map { unescapeOctal(String($0)) }
        }
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" }).reversed().drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }).reversed())
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
