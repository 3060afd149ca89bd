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
    public static let cleanPathRule = "an absolute path without '..', of ASCII letters, digits and /._-+@:,=~ only"

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
        s.hasPrefix("/") && s.utf8.count <= 4096 && !s.split(separator: "/").contains("..")
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

    static func isRegistryHost(_ s: String) -> Bool {
        let hostPort = s.split(separator: ":", omittingEmptySubsequences: false)
        guard hostPort.count <= 2, let host = hostPort.first, !host.isEmpty else { return false }
        if hostPort.count == 2, Int(hostPort[1]) == nil { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
    }
}

extension Character {
    var isLetterOrDigitASCII: Bool { isASCII && (isLetter || isNumber) }
}
