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

    /// v1.30.0 or later, like v1.31.2.
    public static func isSupportedKubernetesVersion(_ version: String) -> Bool {
        let numbers = version.dropFirst().split(separator: ".", omittingEmptySubsequences: false)
        guard version.hasPrefix("v"), numbers.count == 3, numbers.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }),
              let minor = Int(numbers[1]) else { return false }
        return numbers[0] == "1" && minor >= 30
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
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) { out += "\\u{" + String(scalar.value, radix: 16) + "}" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// `value` quoted for an error message: control and non-ASCII characters escaped, at most 80 characters,
    /// so a hostile value cannot forge lines in a terminal or the journal.
    public static func shown(_ value: String) -> String {
        var text = ""
        for scalar in value.unicodeScalars.prefix(80) {
            if scalar.isASCII && scalar.value >= 0x20 && scalar.value != 0x7f { text.unicodeScalars.append(scalar) }
            else { text += "\\u{" + String(scalar.value, radix: 16) + "}" }
        }
        return "'" + text + (value.unicodeScalars.count > 80 ? "…" : "") + "'"
    }

    /// An absolute path without `..`, made only of what paths KubeSeed writes into unit files, TOML
    /// and YAML need: ASCII letters, digits and `/._-+@:,=~`. No spaces, quotes, `%`, `$`, `\\`, and no
    /// control characters of any kind, so no path can add a line, a flag or a specifier anywhere.
    public static func isCleanAbsolutePath(_ s: String) -> Bool {
        s.hasPrefix("/") && s.utf8.count <= 4096 && (s == "/" || !s.hasSuffix("/"))
            && !s.dropFirst().split(separator: "/", omittingEmptySubsequences: false).contains { $0 == ".." || $0 == "." || ($0.isEmpty && s != "/") }
            && s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "/._-+@:,=~".unicodeScalars.contains($0)) }
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
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              digits == "0" || !digits.hasPrefix("0"), !(s.hasPrefix("-") && digits == "0") else { return nil }
        return Int(s)
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
            guard digest.count == 2, !digest[0].isEmpty, digest[0].allSatisfy({ $0.isLowercase || $0.isNumber || "+._-".contains($0) }),
                  digest[1].count >= 32, digest[1].allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return false }
            rest = rest[..<at]
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard var last = components.popLast(), !last.isEmpty else { return false }
        if let colon = last.lastIndex(of: ":") {
            let tag = last[last.index(after: colon)...]
            guard let first = tag.first, first.isLetter || first.isNumber || first == "_", tag.count <= 128,
                  tag.allSatisfy({ $0.isLetter || $0.isNumber || "_.-".contains($0) }) else { return false }
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
              first.isLowercase || first.isNumber, last.isLowercase || last.isNumber else { return false }
        var previousSeparator = ""
        for character in component {
            if character.isASCII && (character.isLowercase || character.isNumber) {
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

extension Character {
    var isLetterOrDigitASCII: Bool { isASCII && (isLetter || isNumber) }
}
