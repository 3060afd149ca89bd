import Foundation

/// Small, pure validators shared by the config parsers.
public enum Validate {
    static func isTimezoneName(_ s: String) -> Bool {
        !s.isEmpty && s.count < 128 && !s.hasPrefix("/") && !s.contains("..")
            && s.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "_+-/".unicodeScalars.contains($0) }
    }

    static func isUnitName(_ s: String) -> Bool {
        !s.isEmpty && s.count < 256 && !s.contains("/")
            && s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ":-_.\\@".unicodeScalars.contains($0)) }
    }

    static func isModuleName(_ s: String) -> Bool {
        !s.isEmpty && s.count < 64
            && s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }
    }

    static func isSysctlKey(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count >= 2 && parts.allSatisfy { part in
            !part.isEmpty && part != ".." && part.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
            }
        }
    }

    static func isSysctlValue(_ s: String) -> Bool {
        !s.isEmpty && s.count < 4096 && s.unicodeScalars.allSatisfy { $0 == " " || $0 == "\t" || ($0.isASCII && $0.value > 0x20 && $0.value < 0x7f) }
    }

    /// A version the version table covers: `KubernetesVersion.supportedRule`.
    public static func isSupportedKubernetesVersion(_ version: String) -> Bool {
        KubernetesVersion(version)?.isSupported ?? false
    }

    /// Dot-separated DNS labels, like cluster.local.
    public static func isDNSDomain(_ s: String) -> Bool {
        s.count <= 253 && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
    }

    /// What a path must be, for messages.
    public static let cleanPathRule = "an absolute path without '.', '..' or empty parts, of ASCII letters, digits and /._-+@:,=~ only"

    /// `text` with every control character (C0, DEL, C1, the Unicode line and paragraph separators)
    /// written as `\u{…}`: what an error message may carry to a terminal, the journal or `STATUS=`
    /// without forging a line.
    public static func printable(_ text: String) -> String {
        escapingControls(text, keeping: [], as: braced)
    }

    /// `text` for a terminal or the journal: line feeds and tabs kept, every other control character
    /// escaped as `printable` does (an escape sequence, a carriage return that hides a line, C1, U+2028).
    /// `CurrentProcess.write` passes all of `seed`'s and `seed-agent`'s output through it. A value with a
    /// line feed still starts a line: values from files and API answers are `printable`d where they are put.
    public static func printableLines(_ text: String) -> String {
        escapingControls(text, keeping: ["\n", "\t"], as: braced)
    }

    /// JSON text with the control characters its encoder leaves raw inside strings (DEL, C1, U+2028, U+2029)
    /// written as `\uXXXX` escapes: still the same JSON, and nothing `printableLines` would change.
    public static func jsonForOutput(_ json: String) -> String {
        escapingControls(json, keeping: ["\n", "\t"]) { scalar in
            let hex = String(scalar.value, radix: 16)
            return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        }
    }

    /// `\u{…}`, as `printable` writes a control character.
    private static func braced(_ scalar: Unicode.Scalar) -> String { "\\u{" + String(scalar.value, radix: 16) + "}" }

    /// `text` with each control character but those `kept` written as `escape` says.
    private static func escapingControls(_ text: String, keeping kept: Set<Unicode.Scalar>, as escape: (Unicode.Scalar) -> String) -> String {
        guard text.unicodeScalars.contains(where: { isControl($0) && !kept.contains($0) }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) && !kept.contains(scalar) { out += escape(scalar) } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// `value` quoted for an error message, when it is at most 80 characters of printable ASCII; any
    /// other value is described, never quoted, not even in part: a value refused for holding a line
    /// break or a command must not reach a terminal, the journal or `STATUS=` through its own message.
    public static func shown(_ value: String) -> String {
        let scalars = Array(value.unicodeScalars)
        if let bad = scalars.firstIndex(where: { !($0.isASCII && $0.value >= 0x20 && $0.value != 0x7f) }) {
            let what = isControl(scalars[bad]) ? "a control character" : "a non-ASCII character"
            return "a value of \(scalars.count) characters with \(what) at character \(bad + 1)"
        }
        if scalars.count > 80 { return "a value of \(scalars.count) characters" }
        return "'" + value + "'"
    }

    /// An absolute path without `..`, made only of what paths KubeSeed writes into unit files, TOML
    /// and YAML need: ASCII letters, digits and `/._-+@:,=~`. No spaces, quotes, `%`, `$`, `\\`, and no
    /// control characters of any kind, so no path can add a line, a flag or a specifier anywhere.
    public static func isCleanAbsolutePath(_ s: String) -> Bool {
        s.hasPrefix("/") && s.utf8.count <= 4096 && (s == "/" || !s.hasSuffix("/"))
            && !s.dropFirst().split(separator: "/", omittingEmptySubsequences: false).contains { $0 == ".." || $0 == "." || ($0.isEmpty && s != "/") }
            && s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "/._-+@:,=~".unicodeScalars.contains($0)) }
    }

    /// Directories a data, containerd or kubelet directory may neither be nor be inside: the system's
    /// own (a kubelet that owns `/etc` deletes what it likes there), KubeSeed's state, and places
    /// anyone can write to.
    public static let systemDirectories = ["/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/dev",
                                           "/proc", "/sys", "/run", "/var/run", "/var/lock", "/tmp", "/var/tmp", "/var/lib/kubeseed", "/var/lib/dpkg",
                                           "/var/lib/apt", "/var/lib/systemd", "/var/log", "/opt/k8s", "/opt/cni", "/root", "/lost+found"]
    /// Directories a data directory may be inside but not be (`/opt` would put the kubelet's root next to
    /// `/opt/k8s/bin`). A disk of its own mounted at `/data`, `/srv` or `/mnt` may be the data directory.
    public static let systemParents = ["/", "/var", "/var/lib", "/opt", "/home", "/usr/local", "/media"]
    /// Under `/run`, where containerd's state belongs, these stay systemd's and the bus's.
    static let runSystemDirectories = ["/run/systemd", "/run/dbus", "/run/udev", "/run/user", "/run/lock", "/run/mount", "/run/kubeseed"]

    /// Why `path` cannot be a directory KubeSeed hands to etcd, containerd or the kubelet, or `nil`:
    /// it must be a clean absolute path (`cleanPathRule`), not a system directory, and not inside one.
    /// `runtimeState` allows a directory inside `/run` (containerd's state).
    public static func dataDirectoryProblem(_ path: String, runtimeState: Bool = false) -> String? {
        guard isCleanAbsolutePath(path) else { return "\(shown(path)) must be \(cleanPathRule)" }
        if systemParents.contains(path) { return "'\(path)' is a system directory; name a directory of its own inside it" }
        func within(_ directory: String) -> Bool { path == directory || path.hasPrefix(directory + "/") }
        if runtimeState, path.hasPrefix("/run/") {
            if let system = runSystemDirectories.first(where: within) { return "'\(path)' is inside \(system), which is not KubeSeed's to hand out" }
            return nil
        }
        if let system = systemDirectories.first(where: within) {
            return path == system ? "'\(path)' is a system directory" : "'\(path)' is inside the system directory \(system)"
        }
        return nil
    }

    /// Time services the distributions ship: the only units `ntpService` may name (the agent enables
    /// and starts it as root).
    public static let timeServices = ["chrony.service", "chronyd.service", "systemd-timesyncd.service", "ntp.service", "ntpd.service",
                                      "ntpsec.service", "openntpd.service"]

    /// Sysctls that make the kernel run a program or load code, or that open the kernel or another
    /// process's memory to others, with why. `refused` says which values (`nil`: every value; these name
    /// a program). Settings that harden (`fs.suid_dumpable = 0`) pass.
    public static let dangerousSysctls: [(key: String, prefix: Bool, refused: (@Sendable (String) -> Bool)?, why: String)] = [
        ("kernel.core_pattern", false, { $0.trimmingCharacters(in: .whitespaces).hasPrefix("|") }, "a pattern starting with '|' makes the kernel run that program as root on every crash"),
        ("kernel.modprobe", false, nil, "the kernel runs this program as root to load modules"),
        ("kernel.poweroff_cmd", false, nil, "the kernel runs this program as root on power-off"),
        ("kernel.hotplug", false, nil, "the kernel runs this program as root on hotplug events"),
        ("kernel.usermodehelper", true, nil, "it governs the programs the kernel runs as root"),
        ("fs.binfmt_misc", true, nil, "it registers interpreters the kernel runs for files"),
        ("kernel.unprivileged_bpf_disabled", false, { $0 == "0" }, "0 lets unprivileged users load BPF code into the kernel"),
        ("kernel.yama.ptrace_scope", false, { $0 == "0" }, "0 lets any process read and change another's memory"),
        ("fs.suid_dumpable", false, { $0 != "0" }, "anything but 0 dumps the memory of set-uid programs"),
        ("dev.tty.ldisc_autoload", false, { $0 != "0" }, "anything but 0 lets unprivileged users make the kernel load line-discipline modules"),
        ("kernel.kptr_restrict", false, { $0 == "0" }, "0 shows kernel addresses to every user"),
        ("kernel.perf_event_paranoid", false, { (Int($0) ?? 2) < 2 }, "below 2 lets unprivileged users profile the kernel"),
        ("vm.mmap_min_addr", false, { (Int($0) ?? 65536) < 4096 }, "below 4096 lets a program map page zero (kernel NULL-pointer exploits)"),
        ("fs.protected_symlinks", false, { $0 == "0" }, "0 lets symlinks in shared directories redirect root"),
        ("fs.protected_hardlinks", false, { $0 == "0" }, "0 lets users hard-link files they cannot write"),
        ("fs.protected_fifos", false, { $0 == "0" }, "0 lets FIFOs in shared directories trap root"),
        ("fs.protected_regular", false, { $0 == "0" }, "0 lets files in shared directories trap root"),
    ]

    /// Why `key` may not be set to `value` from a join file or cluster config, or `nil`.
    public static func refusedSysctl(_ key: String, value: String) -> String? {
        dangerousSysctls.first { entry in
            (entry.prefix ? key == entry.key || key.hasPrefix(entry.key + ".") : key == entry.key) && (entry.refused?(value) ?? true)
        }?.why
    }

    public static func isDNSLabel(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 63 && !s.hasPrefix("-") && !s.hasSuffix("-")
            && s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    static func isLabelValue(_ s: String) -> Bool {
        s.isEmpty || (s.count <= 63 && s.first!.isLetterOrDigitASCII && s.last!.isLetterOrDigitASCII
                      && s.allSatisfy { $0.isLetterOrDigitASCII || $0 == "-" || $0 == "_" || $0 == "." })
    }

    static func isLabelKey(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.last, !name.isEmpty, isLabelValue(String(name)) else { return false }
        if parts.count == 2 {
            return parts[0].count <= 253 && parts[0].split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
        }
        return true
    }

    /// NodeRestriction lets a kubelet set only these labels in the kubernetes.io / k8s.io namespaces.
    static func isKubeletSettableLabel(_ key: String) -> Bool {
        let parts = key.split(separator: "/")
        guard parts.count == 2 else { return true }
        let prefix = String(parts[0])
        let restricted = prefix == "kubernetes.io" || prefix.hasSuffix(".kubernetes.io") || prefix == "k8s.io" || prefix.hasSuffix(".k8s.io")
        if !restricted { return true }
        if prefix == "kubelet.kubernetes.io" || prefix.hasSuffix(".kubelet.kubernetes.io")
            || prefix == "node.kubernetes.io" || prefix.hasSuffix(".node.kubernetes.io") { return true }
        return [
            "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/instance-type",
            "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
            "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
        ].contains(key)
    }

    /// A registry host as containerd's certs.d names it: a DNS name, optionally `:PORT` (1–65535, digits only).
    static func isRegistryHost(_ s: String) -> Bool {
        let hostPort = s.split(separator: ":", omittingEmptySubsequences: false)
        guard hostPort.count <= 2, let host = hostPort.first, !host.isEmpty, host.count <= 253 else { return false }
        if hostPort.count == 2 {
            guard let port = decimalInteger(String(hostPort[1])), (1...65535).contains(port) else { return false }
        }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
    }

    /// A decimal integer as a person writes one: digits, an optional leading `-`, no `+`, no leading zeros,
    /// at most 18 digits. `nil` for anything else (`+0002000`, `0x10`, `1_000`, ` 5`).
    public static func decimalInteger(_ s: String) -> Int? {
        let digits = s.hasPrefix("-") ? s.dropFirst() : Substring(s)
        guard !digits.isEmpty, digits.count <= 18, digits.isASCIIDigits,
              digits == "0" || !digits.hasPrefix("0"), !(s.hasPrefix("-") && digits == "0") else { return nil }
        return Int(s)
    }

    /// A certificate lifetime `Nh` or `Nm` (digits, no sign) from 10 minutes to 87600 hours, in minutes.
    public static func signingDurationMinutes(_ s: String) -> Int? {
        guard let unit = s.last, unit == "h" || unit == "m", let count = decimalInteger(String(s.dropLast())), count > 0 else { return nil }
        let minutes = unit == "h" ? count.multipliedReportingOverflow(by: 60) : (partialValue: count, overflow: false)
        guard !minutes.overflow, (10...87600 * 60).contains(minutes.partialValue) else { return nil }
        return minutes.partialValue
    }

    /// A port range `N-M` with 1 ≤ N < M ≤ 65535, digits only.
    public static func portRange(_ s: String) -> ClosedRange<Int>? {
        let bounds = s.split(separator: "-", omittingEmptySubsequences: false).map { decimalInteger(String($0)) }
        guard bounds.count == 2, let low = bounds[0], let high = bounds[1], low >= 1, low < high, high <= 65535 else { return nil }
        return low...high
    }

    /// Ports a NodePort range must leave alone: below 1024, and what etcd, the API server, the kubelet
    /// and kube-proxy listen on, on every node.
    public static let portsNodePortsMustNotTake = [2379, 2380, 6443, 10249, 10250, 10256, 10257, 10259]

    /// The first port of `range` that NodePorts must not take, if any.
    public static func reservedPort(in range: ClosedRange<Int>) -> Int? {
        if range.lowerBound < 1024 { return range.lowerBound }
        return portsNodePortsMustNotTake.first { range.contains($0) }
    }

    /// An image reference as containerd reads one: `[registry[:port]/]path[:tag][@algorithm:hex]`, path
    /// components of lowercase letters and digits joined by `.`, `_`, `__` or `-`s (the distribution
    /// reference grammar), at most 255 characters, nothing else.
    public static func isImageReference(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 255, s.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7f }) else { return false }
        var rest = Substring(s)
        if let at = rest.firstIndex(of: "@") {
            let digest = rest[rest.index(after: at)...].split(separator: ":", omittingEmptySubsequences: false)
            guard digest.count == 2, !digest[0].isEmpty, digest[0].allSatisfy({ $0.isLowercaseASCIILetter || $0.isASCIIDigit || "+._-".contains($0) }),
                  digest[1].count >= 32, digest[1].allSatisfy(\.isLowercaseASCIIHexDigit) else { return false }
            rest = rest[..<at]
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard var last = components.popLast(), !last.isEmpty else { return false }
        if let colon = last.lastIndex(of: ":") {
            let tag = last[last.index(after: colon)...]
            guard let first = tag.first, first.isLetterOrDigitASCII || first == "_", tag.count <= 128,
                  tag.allSatisfy({ $0.isLetterOrDigitASCII || "_.-".contains($0) }) else { return false }
            last = last[..<colon]
        }
        components.append(last)
        if components.count > 1, let domain = components.first, domain.contains(".") || domain.contains(":") || domain == "localhost" {
            guard isRegistryHost(String(domain)) else { return false }
            components.removeFirst()
        }
        return !components.isEmpty && components.allSatisfy(isImagePathComponent)
    }

    static func isImagePathComponent(_ component: Substring) -> Bool {
        guard let first = component.first, let last = component.last,
              first.isLowercaseASCIILetter || first.isASCIIDigit, last.isLowercaseASCIILetter || last.isASCIIDigit else { return false }
        var previousSeparator = ""
        for character in component {
            if character.isLowercaseASCIILetter || character.isASCIIDigit {
                previousSeparator = ""
            } else if ".-_".contains(character) {
                previousSeparator.append(character)
                // Separators: one `.`, one or two `_`, or any run of `-`.
                if previousSeparator.count > 1 && !(previousSeparator == "__" || previousSeparator.allSatisfy { $0 == "-" }) { return false }
            } else {
                return false
            }
        }
        return true
    }
}
