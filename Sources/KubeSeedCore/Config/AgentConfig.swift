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
        var settings = NodePrepSettings()
        for (_, host) in try YAMLField.document(text, file: file, apiVersion: apiVersion, kind: kind, sections: ["host"]) {
            try HostSettingsParser.apply(host, to: &settings)
        }
        return settings
    }
}

/// Reads a `host:` block (shared by the agent config and, later, the join file).
public enum HostSettingsParser {
    /// The keys in the order they are applied, whatever their order in the file: the same settings
    /// always come out the same (and `render` gives them back).
    static let order = ["timezone", "localRTC", "ntpService", "selinux", "disableFirewalld", "dataDir", "disableIPv6", "extraModules", "extraSysctls"]
    static let keys = Set(order)

    public static func apply(_ host: YAMLField, to settings: inout NodePrepSettings) throws {
        let entries = try host.mapping(allowedKeys: keys).sorted { order.firstIndex(of: $0.key)! < order.firstIndex(of: $1.key)! }
        for (key, value) in entries {
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
                guard Validate.timeServices.contains(unit) else {
                    throw value.error(.invalidValue, "\(Validate.shown(unit)) is not a time service; one of: \(Validate.timeServices.joined(separator: ", "))")
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
                if let problem = Validate.dataDirectoryProblem(dir) { throw value.error(.invalidValue, problem) }
                settings.dataDir = dir
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
                        throw sysctlValue.error(.invalidValue, "\(Validate.shown(sysctlKey)) is not a sysctl key like 'net.core.somaxconn'")
                    }
                    let text = try sysctlValue.scalarText()
                    guard Validate.isSysctlValue(text) else {
                        throw sysctlValue.error(.invalidValue, "value must be one line of printable text")
                    }
                    if let why = Validate.refusedSysctl(sysctlKey, value: text) {
                        throw sysctlValue.error(.invalidValue, "\(sysctlKey) may not be set to this value here: \(why)")
                    }
                    // In place: the same settings always come out in the same order (and `render` gives them back).
                    if let index = settings.sysctls.firstIndex(where: { $0.key == sysctlKey }) {
                        settings.sysctls[index] = SysctlSetting(sysctlKey, text)
                    } else {
                        settings.sysctls.append(SysctlSetting(sysctlKey, text))
                    }
                }
            }
        }
    }
}

extension HostSettingsParser {
    /// A `host:` block that `apply` reads back into exactly `settings` (what differs from the defaults).
    public static func render(_ settings: NodePrepSettings) -> [(String, YAMLDocument)] {
        let defaults = NodePrepSettings()
        var pairs: [(String, YAMLDocument)] = []
        if let timezone = settings.timezone { pairs.append(("timezone", .string(timezone))) }
        if settings.localRTC != defaults.localRTC { pairs.append(("localRTC", .bool(settings.localRTC))) }
        if settings.ntpUnit != defaults.ntpUnit { pairs.append(("ntpService", .string(settings.ntpUnit))) }
        if settings.selinuxMode != defaults.selinuxMode { pairs.append(("selinux", .string(settings.selinuxMode.rawValue))) }
        if settings.disableFirewalld != defaults.disableFirewalld { pairs.append(("disableFirewalld", .bool(settings.disableFirewalld))) }
        if settings.dataDir != defaults.dataDir { pairs.append(("dataDir", .string(settings.dataDir))) }
        let modules = settings.modules.filter { !defaults.modules.contains($0) }
        if !modules.isEmpty { pairs.append(("extraModules", .list(modules.map { .string($0) }))) }
        // Every sysctl that is not a default one, in order (disableIPv6's among them): read back in place.
        let sysctls = settings.sysctls.filter { !defaults.sysctls.contains($0) }
        if !sysctls.isEmpty { pairs.append(("extraSysctls", .map(sysctls.map { ($0.key, .string($0.value)) }))) }
        return pairs
    }
}
