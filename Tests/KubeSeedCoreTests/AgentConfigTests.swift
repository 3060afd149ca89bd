import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic): agent config parsing and strict validation.
@Suite struct AgentConfigTests {
    let file = "/etc/kubeseed/agent.yaml"

    @Test func parsesAFullConfig() throws {
        let text = """
        apiVersion: kubeseed.io/v1alpha1
        kind: AgentConfig
        host:
          timezone: Asia/Shanghai
          localRTC: true
          ntpService: chronyd.service
          selinux: disabled
          disableFirewalld: false
          disableIPv6: true
          dataDir: /srv/k8s
          extraModules: [nf_nat, ip_vs]
          extraSysctls:
            net.core.somaxconn: 32768
            vm.swappiness: "1"
        """
        let settings = try AgentConfig.parse(text, file: file)
        #expect(settings.timezone == "Asia/Shanghai")
        #expect(settings.localRTC)
        #expect(settings.ntpUnit == "chronyd.service")
        #expect(settings.selinuxMode == .disabled)
        #expect(!settings.disableFirewalld)
        #expect(settings.modules.last == "nf_nat")
        #expect(settings.modules.filter { $0 == "ip_vs" }.count == 1)
        #expect(settings.sysctls.contains(SysctlSetting("net.ipv6.conf.all.disable_ipv6", "1")))
        #expect(settings.sysctls.contains(SysctlSetting("net.core.somaxconn", "32768")))
        // An extra sysctl overrides the default for the same key instead of adding a second line.
        #expect(settings.sysctls.filter { $0.key == "vm.swappiness" }.map(\.value) == ["1"])
        #expect(settings.directories.contains(DirectorySetting("/srv/k8s/etcd/data", mode: 0o700)))
    }

    @Test func defaultsWhenHostIsOmitted() throws {
        let settings = try AgentConfig.parse("apiVersion: kubeseed.io/v1alpha1\nkind: AgentConfig\n", file: file)
        #expect(settings == NodePrepSettings())
    }

    struct BadCase: Sendable, CustomStringConvertible {
        var yaml: String
        var code: ConfigError.Code
        var field: String?
        var line: Int?
        var description: String { "\(code) \(field ?? "-")" }
    }

    static let header = "apiVersion: kubeseed.io/v1alpha1\nkind: AgentConfig\n"
    static let badCases: [BadCase] = [
        .init(yaml: header + "host:\n  timezon: UTC\n", code: .unknownKey, field: "host.timezon", line: 4),
        .init(yaml: header + "hosts: {}\n", code: .unknownKey, field: "hosts", line: 3),
        .init(yaml: header + "host:\n  localRTC: yes\n", code: .wrongType, field: "host.localRTC", line: 4),
        .init(yaml: header + "host:\n  timezone: ../../etc/passwd\n", code: .invalidValue, field: "host.timezone", line: 4),
        .init(yaml: header + "host:\n  selinux: enforcing\n", code: .invalidValue, field: "host.selinux", line: 4),
        .init(yaml: header + "host:\n  dataDir: relative/path\n", code: .invalidValue, field: "host.dataDir", line: 4),
        .init(yaml: header + "host:\n  extraModules: [ok, \"bad name\"]\n", code: .invalidValue, field: "host.extraModules[1]", line: 4),
        .init(yaml: header + "host:\n  extraSysctls:\n    net/core: 1\n", code: .invalidValue, field: "host.extraSysctls.net/core", line: 5),
        .init(yaml: header + "host:\n  extraSysctls: [a]\n", code: .wrongType, field: "host.extraSysctls", line: 4),
        .init(yaml: header + "host:\n  timezone: [UTC]\n", code: .wrongType, field: "host.timezone", line: 4),
        .init(yaml: header + "host:\n  timezone:\n", code: .wrongType, field: "host.timezone", line: nil),
        .init(yaml: "kind: AgentConfig\n", code: .missingField, field: "apiVersion", line: nil),
        .init(yaml: "apiVersion: kubeseed.io/v9\nkind: AgentConfig\n", code: .invalidValue, field: "apiVersion", line: 1),
        .init(yaml: header + "host: &a {timezone: UTC}\nextra: *a\n", code: .aliasNotAllowed, field: nil, line: 3),
        .init(yaml: header + "host:\n  timezone: UTC\n  timezone: UTC\n", code: .syntax, field: nil, line: nil),
        .init(yaml: header + "host: [\n", code: .syntax, field: nil, line: nil),
        .init(yaml: "", code: .empty, field: nil, line: nil),
        .init(yaml: "# only a comment\n", code: .empty, field: nil, line: nil),
    ]

    @Test(arguments: badCases)
    func rejectsBadInputNamingFieldAndLine(_ bad: BadCase) throws {
        let error = try #require(throws: ConfigError.self) { try AgentConfig.parse(bad.yaml, file: file) }
        #expect(error.code == bad.code)
        #expect(error.field == bad.field)
        if let line = bad.line { #expect(error.line == line) }
        #expect(error.description.hasPrefix(file))
    }

    @Test func rejectsAHugeFile() throws {
        let text = Self.header + "# " + String(repeating: "x", count: YAMLField.maxBytes) + "\n"
        let error = try #require(throws: ConfigError.self) { try AgentConfig.parse(text, file: file) }
        #expect(error.code == .tooLarge)
    }

    @Test func rejectsAnAliasBombQuickly() throws {
        var text = Self.header + "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<30 { text += "a\(i): &a\(i) [*a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1), *a\(i - 1)]\n" }
        let error = try #require(throws: ConfigError.self) { try AgentConfig.parse(text, file: file) }
        #expect(error.code == .aliasNotAllowed)
    }

    @Test func messageReadsLikeASentence() throws {
        let error = try #require(throws: ConfigError.self) {
            try AgentConfig.parse(Self.header + "host:\n  selinux: enforcing\n", file: file)
        }
        #expect(error.description == "/etc/kubeseed/agent.yaml:4: field 'host.selinux': 'enforcing' is not one of: permissive, disabled")
    }
}
