/// The agent's own configuration file (`/etc/kubeseed/agent.yaml`): host settings used until the
/// join file carries them. Every key is optional; unknown keys are rejected.
///
/// ```yaml
/// apiVersion: kubeseed.io/v1alpha1
/// kind: AgentConfig
/// host:
///   timezone: Asia/Shanghai
///   localRTC: false
///   ntpService: chrony.service
///   selinux: permissive          # or disabled
///   disableFirewalld: true
///   disableIPv6: false
///   dataDir: /data/k8s
///   extraModules: [nf_nat]
///   extraSysctls:
///     net.core.somaxconn: 32768
/// ```
public enum AgentConfig {
    public static let apiVersion = "kubeseed.io/v1alpha1"
    public static let kind = "AgentConfig"
    public static let defaultPath = "/etc/kubeseed/agent.yaml"

    /// Parses and validates the file's text into node-preparation settings.
    public static func parse(_ text: String, file: String) throws -> NodePrepSettings {
        let root = try YAMLField.parse(text, file: file)
        var settings = NodePrepSettings()
        var sawVersion = false, sawKind = false
        for (key, value) in try root.mapping(allowedKeys: ["apiVersion", "kind", "host"]) {
            switch key {
            case "apiVersion":
                guard try value.string() == apiVersion else {
                    throw value.error(.invalidValue, "unsupported apiVersion; expected '\(apiVersion)'")
                }
                sawVersion = true
            case "kind":
                guard try value.string() == kind else {
                    throw value.error(.invalidValue, "expected kind '\(kind)'")
                }
                sawKind = true
            default:
                try HostSettingsParser.apply(value, to: &settings)
            }
        }
        if !sawVersion { throw ConfigError(.missingField, file: file, field: "apiVersion", "required; use '\(apiVersion)'") }
        if !sawKind { throw ConfigError(.missingField, file: file, field: "kind", "required; use '\(kind)'") }
        return settings
    }
}

/// Reads a `host:` block (shared by the agent config and, later, the join file).
public enum HostSettingsParser {
    static let keys: Set<String> = [
        "timezone", "localRTC", "ntpService", "selinux", "disableFirewalld", "disableIPv6",
        "dataDir", "extraModules", "extraSysctls",
    ]

    public static func apply(_ host: YAMLField, to settings: inout NodePrepSettings) throws {
        for (key, value) in try host.mapping(allowedKeys: keys) {
            switch key {
            case "timezone":
                let zone = try value.string()
                guard Validate.isTimezoneName(zone) else {
                    throw value.error(.invalidValue, "'\(zone)' is not a time zone name like 'Asia/Shanghai' or 'UTC'")
                }
                settings.timezone = zone
            case "localRTC":
                settings.localRTC = try value.bool()
            case "ntpService":
                let unit = try value.string()
                guard Validate.isUnitName(unit), unit.hasSuffix(".service") else {
                    throw value.error(.invalidValue, "'\(unit)' is not a systemd service name like 'chrony.service'")
                }
                settings.ntpUnit = unit
            case "selinux":
                let mode = try value.string()
                guard let parsed = SELinuxMode(rawValue: mode) else {
                    throw value.error(.invalidValue, "'\(mode)' is not one of: permissive, disabled")
                }
                settings.selinuxMode = parsed
            case "disableFirewalld":
                settings.disableFirewalld = try value.bool()
            case "disableIPv6":
                if try value.bool() {
                    settings.sysctls.append(contentsOf: NodePrepSettings.disableIPv6Sysctls)
                }
            case "dataDir":
                let dir = try value.string()
                guard Validate.isCleanAbsolutePath(dir), dir != "/" else {
                    throw value.error(.invalidValue, "'\(dir)' must be an absolute path without '..' (not '/')")
                }
                settings.directories = NodePrepSettings.directories(dataDir: dir)
            case "extraModules":
                for (index, name) in try value.stringList().enumerated() {
                    guard Validate.isModuleName(name) else {
                        throw ConfigError(.invalidValue, file: value.file, field: "\(value.path)[\(index)]",
                                          line: value.line, "'\(name)' is not a kernel module name")
                    }
                    if !settings.modules.contains(name) { settings.modules.append(name) }
                }
            default: // extraSysctls
                for (sysctlKey, sysctlValue) in try value.mapping() {
                    guard Validate.isSysctlKey(sysctlKey) else {
                        throw sysctlValue.error(.invalidValue, "'\(sysctlKey)' is not a sysctl key like 'net.core.somaxconn'")
                    }
                    let text = try sysctlValue.scalarText()
                    guard Validate.isSysctlValue(text) else {
                        throw sysctlValue.error(.invalidValue, "value must be one line of printable text")
                    }
                    settings.sysctls.removeAll { $0.key == sysctlKey }
                    settings.sysctls.append(SysctlSetting(sysctlKey, text))
                }
            }
        }
    }
}

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

    static func isCleanAbsolutePath(_ s: String) -> Bool {
        s.hasPrefix("/") && !s.split(separator: "/").contains("..") && !s.contains("\n") && !s.contains("\0")
    }
}
