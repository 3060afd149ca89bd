import Foundation
import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic) of the second hardening round, one class of value at a time: validators
/// that must be ASCII, refused values never repeated, host settings that would hand out root, and
/// what other machines answer (etcd's member list, the EndpointSlice) read strictly.
@Suite struct HardeningClassTests {
    // MARK: ASCII only

    /// Full-width (U+FF10…), Arabic-Indic (U+0660…) and superscript digits, full-width letters: each
    /// passes Swift's Unicode `isNumber`/`isHexDigit`/`isLetter`, and none may pass a validator.
    static let lookalikes = ["１", "٣", "²", "ａ", "Ａ", "ｆ"]

    @Test func aSHA256OfFullWidthLettersIsNotHex() {
        let fullWidth = String(repeating: "ａ", count: 64)
        let text = "apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\nbinaries:\n  sha256: \(fullWidth)\n"
        #expect { _ = try ClusterConfig.parse(text, file: "cluster.yaml") } throws: { ($0 as? ConfigError)?.field == "binaries.sha256" }
    }

    @Test(arguments: lookalikes)
    func noValidatorTakesALookalikeForADigitOrLetter(_ lookalike: String) {
        #expect(Validate.decimalInteger("1\(lookalike)") == nil)
        #expect(IPAddress.v4("10.0.0.\(lookalike)") == nil)
        #expect(IPAddress.v6("fd00::\(lookalike)") == nil)
        #expect(IPAddress.cidr("10.0.0.0/1\(lookalike)") == nil)
        #expect(APIEndpoint.parse("https://10.0.0.1:64\(lookalike)") == nil)
        #expect(APIEndpoint.parse("https://host\(lookalike).example:6443") == nil)
        #expect(!Validate.isImageReference("pause:3\(lookalike)"))
        #expect(!Validate.isImageReference("pause@sha256:" + String(repeating: "a", count: 63) + lookalike))
        #expect(!Validate.isDNSLabel("node\(lookalike)"))
        #expect(!Validate.isLabelValue("v\(lookalike)"))
        #expect(!Validate.isSysctlKey("net.core.x\(lookalike)"))
        #expect(!Validate.isRegistryHost("reg.example:50\(lookalike)"))
        #expect(Validate.portRange("30000-3276\(lookalike)") == nil)
        #expect(SealedSecrets_hexFree(lookalike))
    }

    /// The Key's hex reader lives in KubeSeedPKI; this checks the Core rule it shares.
    func SealedSecrets_hexFree(_ lookalike: String) -> Bool { !"ab\(lookalike)".isASCIIHex }

    /// The class, not the cases: no validator in Core may use Swift's Unicode character classes.
    @Test func coreUsesNoUnicodeCharacterClasses() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/KubeSeedCore").standardized
        let files = try FileManager.default.subpathsOfDirectory(atPath: sources.path)
            .filter { $0.hasSuffix(".swift") && ($0 as NSString).lastPathComponent != "ASCIIClass.swift" }
        #expect(files.count > 20)
        for file in files {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for name in [".isNumber", ".isHexDigit", ".isLetter ", ".isLetter)", ".isLetter,", ".isLowercase ", ".isLowercase)", ".isLowercase,", ".isUppercase", "\\.isNumber", "\\.isHexDigit", "\\.isLetter"] {
                #expect(!text.contains(name), "\(file) uses \(name)")
            }
        }
    }

    // MARK: refused values are not repeated

    @Test(arguments: ["/data\rExecStart=/bin/sh -c 'id'", "/data\nx", "/dätä", "/d\u{2028}ata"])
    func aRefusedValueIsDescribedNeverQuoted(_ value: String) throws {
        #expect(!Validate.shown(value).contains("ExecStart") && !Validate.shown(value).contains("ata"))
        let join = "kubelet:\n  rootDir: \"\(value.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\u{2028}", with: "\\u2028"))\"\n"
        do {
            _ = try JoinFile.parse(JoinFileSamples.minimal + join, file: "join.yaml")
            Issue.record("accepted \(value)")
        } catch {
            let message = "\(error)"
            #expect(message.contains("kubelet.rootDir"), "\(message)")
            #expect(!message.contains("ExecStart") && !message.contains("/bin/sh") && !message.contains("ata"), "\(message)")
        }
    }

    @Test func aPrintableValueIsStillQuoted() {
        #expect(Validate.shown("/etc/x y") == "'/etc/x y'")
    }

    // MARK: host settings that hand out root

    @Test(arguments: ["debug-shell.service", "getty@tty1.service", "serial-getty@ttyS0.service", "chrony", "rescue.service", "emergency.service"])
    func ntpServiceIsOneOfTheTimeServices(_ unit: String) {
        #expect { _ = try AgentConfig.parse(Self.host("ntpService: \(unit)"), file: "agent.yaml") } throws: { ($0 as? ConfigError)?.field == "host.ntpService" }
    }

    @Test(arguments: Validate.timeServices)
    func everyTimeServicePasses(_ unit: String) throws {
        #expect(try AgentConfig.parse(Self.host("ntpService: \(unit)"), file: "agent.yaml").ntpUnit == unit)
    }

    @Test(arguments: [("kernel.core_pattern", "|/tmp/x %p"), ("kernel.core_pattern", " |/tmp/x"), ("kernel.modprobe", "/tmp/x"), ("kernel.poweroff_cmd", "/tmp/x"),
                      ("kernel.usermodehelper.bset", "4294967295 63"), ("kernel.usermodehelper.inheritable", "1 1"), ("kernel.hotplug", "/tmp/x"),
                      ("fs.binfmt_misc.status", "1"), ("kernel.unprivileged_bpf_disabled", "0"), ("kernel.yama.ptrace_scope", "0"),
                      ("fs.suid_dumpable", "2"), ("dev.tty.ldisc_autoload", "1"), ("kernel.kptr_restrict", "0"), ("kernel.perf_event_paranoid", "-1"),
                      ("vm.mmap_min_addr", "0"), ("fs.protected_symlinks", "0"), ("fs.protected_hardlinks", "0"), ("fs.protected_regular", "0")])
    func sysctlsThatRunProgramsOrOpenTheKernelAreRefusedWithTheReason(_ key: String, _ value: String) {
        #expect { _ = try AgentConfig.parse(Self.host("extraSysctls:\n    \(key): \"\(value)\""), file: "agent.yaml") } throws: { error in
            let message = "\(error)"
            return message.contains("may not be set to this value here") && message.contains("host.extraSysctls")
        }
    }

    /// Hardening values of the same keys pass: the rule is about what a value does, not the key.
    @Test func ordinaryAndHardeningSysctlsPass() throws {
        let text = Self.host("extraSysctls:\n    net.core.somaxconn: 1024\n    kernel.pid_max: 4194304\n    fs.suid_dumpable: 0\n    kernel.yama.ptrace_scope: 1\n"
                             + "    kernel.unprivileged_bpf_disabled: 1\n    kernel.core_pattern: core.%p\n    kernel.kptr_restrict: 2\n    vm.mmap_min_addr: 65536")
        let settings = try AgentConfig.parse(text, file: "agent.yaml")
        #expect(settings.sysctls.contains(SysctlSetting("kernel.pid_max", "4194304")) && settings.sysctls.contains(SysctlSetting("fs.suid_dumpable", "0")))
    }

    @Test(arguments: ["/", "/etc", "/etc/k8s", "/usr/local/k8s", "/bin", "/sbin", "/lib", "/lib64/x", "/boot", "/dev/shm/x", "/proc/1", "/sys/fs",
                      "/run", "/run/k8s", "/var/run", "/var/run/k8s", "/var/lock/x", "/tmp/k8s", "/var/tmp/k8s", "/var", "/var/lib", "/var/lib/kubeseed",
                      "/var/lib/kubeseed/x", "/var/log", "/opt", "/opt/k8s", "/opt/k8s/bin", "/home", "/root", "/usr/local"])
    func dataDirectoriesAreNeverSystemDirectories(_ dir: String) {
        #expect(Validate.dataDirectoryProblem(dir) != nil, "\(dir)")
        #expect { _ = try AgentConfig.parse(Self.host("dataDir: \(dir)"), file: "agent.yaml") } throws: { ($0 as? ConfigError)?.field == "host.dataDir" }
        for (section, key) in [("kubelet", "rootDir"), ("containerd", "root")] {
            #expect { _ = try JoinFile.parse(JoinFileSamples.minimal + "\(section):\n  \(key): \(dir)\n", file: "join.yaml") } throws: {
                ($0 as? ConfigError)?.field == "\(section).\(key)"
            }
        }
    }

    @Test func containerdStateMayLiveInRunButNotInSystemdsPart() throws {
        #expect(try JoinFile.parse(JoinFileSamples.minimal + "containerd:\n  state: /run/containerd-k8s\n", file: "join.yaml").containerd.state == "/run/containerd-k8s")
        for dir in ["/run", "/run/systemd/x", "/run/dbus", "/etc/containerd"] {
            #expect(throws: ConfigError.self) { try JoinFile.parse(JoinFileSamples.minimal + "containerd:\n  state: \(dir)\n", file: "join.yaml") }
        }
    }

    @Test(arguments: ["/data/k8s", "/srv/k8s", "/var/lib/containerd", "/var/lib/kubelet", "/home/k8s", "/mnt/disk1/k8s", "/opt/data", "/data", "/srv", "/mnt"])
    func ordinaryDataDirectoriesPass(_ dir: String) { #expect(Validate.dataDirectoryProblem(dir) == nil, "\(dir)") }

    static func host(_ body: String) -> String { "apiVersion: kubeseed.io/v1alpha1\nkind: AgentConfig\nhost:\n  \(body)\n" }

    // MARK: etcd's answers

    func list(_ members: String) -> Data { Data(#"{"members":[\#(members)]}"#.utf8) }
    let good = #"{"ID":"1","name":"master-1","peerURLs":["https://192.0.2.11:2380"],"clientURLs":["https://192.0.2.11:2379"]}"#

    @Test(arguments: [
        (#"{"ID":1,"name":"a","peerURLs":["https://192.0.2.12:2380"]}"#, "ID"),
        (#"{"ID":true,"peerURLs":["https://192.0.2.12:2380"]}"#, "ID"),
        (#"{"ID":"-2","peerURLs":["https://192.0.2.12:2380"]}"#, "ID"),
        (#"{"ID":"18446744073709551616","peerURLs":["https://192.0.2.12:2380"]}"#, "ID"),
        (#"{"ID":"+2","peerURLs":["https://192.0.2.12:2380"]}"#, "ID"),
        (#"{"ID":"1","peerURLs":["https://192.0.2.12:2380"]}"#, "twice"),
        (#"{"ID":"2","name":"master-1","peerURLs":["https://192.0.2.12:2380"]}"#, "two members named"),
        (#"{"ID":"2","name":"x,y=https://203.0.113.9:2380","peerURLs":["https://192.0.2.12:2380"]}"#, "not a node name"),
        (#"{"ID":"2","name":"m=x","peerURLs":["https://192.0.2.12:2380"]}"#, "not a node name"),
        (#"{"ID":"2","name":"m\nx","peerURLs":["https://192.0.2.12:2380"]}"#, "not a node name"),
        (#"{"ID":"2","peerURLs":["http://192.0.2.12:2380"]}"#, "https://IP:PORT"),
        (#"{"ID":"2","peerURLs":["https://etcd.example:2380"]}"#, "https://IP:PORT"),
        (#"{"ID":"2","peerURLs":["https://192.0.2.12:2380/x"]}"#, "https://IP:PORT"),
        (#"{"ID":"2","peerURLs":["https://192.0.2.12"]}"#, "https://IP:PORT"),
        (#"{"ID":"2","peerURLs":["https://192.0.2.12:2380,https://203.0.113.9:2380"]}"#, "https://IP:PORT"),
        (#"{"ID":"2","peerURLs":"https://192.0.2.12:2380"}"#, "list of strings"),
        (#"{"ID":"2","peerURLs":["https://192.0.2.12:2380"],"isLearner":1}"#, "boolean"),
        (#"{"ID":"2","peerURLs":["https://192.0.2.12:2380"],"isLearner":"true"}"#, "boolean"),
        (#"{"ID":"2","name":7,"peerURLs":["https://192.0.2.12:2380"]}"#, "string"),
    ])
    func oneBadMemberRefusesTheWholeList(_ member: String, _ reason: String) {
        do {
            let members = try EtcdMembership.members(in: list(good + "," + member))
            Issue.record("accepted: \(members)")
        } catch {
            #expect("\(error)".contains(reason), "\(error)")
        }
    }

    @Test func aKubeSeedListIsRead() throws {
        let members = try EtcdMembership.members(in: list(good + #",{"ID":"18446744073709551615","peerURLs":["https://[fd00::2]:2380"],"isLearner":true}"#))
        #expect(members.map(\.id) == [1, UInt64.max] && members[1].isLearner && !members[0].isLearner)
    }

    // MARK: the EndpointSlice

    func slice(_ endpoints: String, port: String = "6443") -> Data {
        Data(#"{"kind":"EndpointSlice","ports":[{"name":"https","port":\#(port)}],"endpoints":[\#(endpoints)]}"#.utf8)
    }

    @Test(arguments: ["0.0.0.0", "127.0.0.1", "127.8.8.8", "224.0.0.1", "255.255.255.255", "169.254.1.1", "::", "::1", "ff02::1", "fe80::1", "::ffff:127.0.0.1", "0.1.2.3"])
    func addressesNoAPIServerHasAreSkipped(_ address: String) {
        #expect(APIServerDiscovery.endpoints(in: slice(#"{"addresses":["\#(address)"]}"#)) == nil, "\(address)")
        #expect(APIServerDiscovery.endpoints(in: slice(#"{"addresses":["\#(address)","192.0.2.11"]}"#)) == ["https://192.0.2.11:6443"])
    }

    @Test(arguments: [#""6443""#, "6443.0", "true", "0", "65536", "-1", "6.443e3"])
    func aPortMustBeAJSONIntegerInRange(_ port: String) {
        #expect(APIServerDiscovery.endpoints(in: slice(#"{"addresses":["192.0.2.11"]}"#, port: port)) == nil, "\(port)")
    }

    @Test(arguments: [#""true""#, "1", "null", "false"])
    func readyMustBeTheBooleanTrue(_ ready: String) {
        #expect(APIServerDiscovery.endpoints(in: slice(#"{"addresses":["192.0.2.11"],"conditions":{"ready":\#(ready)}}"#)) == nil, "\(ready)")
    }

    @Test func aReadyServerIsFound() {
        #expect(APIServerDiscovery.endpoints(in: slice(#"{"addresses":["192.0.2.11"],"conditions":{"ready":true}},{"addresses":["fd00::2"]}"#))
                    == ["https://192.0.2.11:6443", "https://[fd00::2]:6443"])
    }

    @Test func aKeptListNamingLoopbackIsIgnored() {
        let digest = String(repeating: "a", count: 64)
        #expect(APIServerDiscovery.parse(APIServerDiscovery.render(["https://127.0.0.1:6443"], caDigest: digest), caDigest: digest) == nil)
        #expect(APIServerDiscovery.parse(APIServerDiscovery.render(["https://192.0.2.11:6443"], caDigest: digest), caDigest: digest) == ["https://192.0.2.11:6443"])
    }

    // MARK: the way back to every master

    @Test func theJoinFilesMastersStayAsBackupServers() throws {
        let kept = ["https://192.0.2.21:6443"].compactMap(APIEndpoint.parse)
        let fallback = ["https://192.0.2.11:6443", "https://192.0.2.21:6443", "https://192.0.2.12:6443"].compactMap(APIEndpoint.parse)
        let config = APIBalancer.config(kept, fallback: fallback)
        #expect(config.contains("    server api-1 192.0.2.21:6443\n"))
        #expect(config.contains("    server fallback-1 192.0.2.11:6443 backup\n"))
        #expect(config.contains("    server fallback-3 192.0.2.12:6443 backup\n"))
        // A kept server is not listed twice.
        #expect(config.components(separatedBy: "192.0.2.21:6443").count == 2)
        #expect(!APIBalancer.config(kept).contains("backup"))
    }
}

/// The sample join file without its containerd and kubelet sections, for tests that add their own.
enum JoinFileSamples {
    static var minimal: String {
        let text = sampleJoinFile()
        let start = text.range(of: "\ncontainerd:\n")!.lowerBound, end = text.range(of: "\nkubeProxy:\n")!.lowerBound
        return String(text[..<start]) + String(text[end...]) + "\n"
    }
}
