import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic) of the one unit writer: whatever a value holds, systemd reads back exactly the
/// words and lines that were meant. `splitLikeSystemd` follows systemd's rules for `ExecStart=` (quotes,
/// C escapes, `%%`, `$$`); the VM test has systemd itself verify the units KubeSeed writes.
@Suite struct SystemdUnitTests {
    /// The words systemd reads from an `ExecStart=` value, after unescaping `%%` and `$$`.
    func splitLikeSystemd(_ value: String) -> [String] {
        var words: [String] = []
        var scalars = Array(value.unicodeScalars)[...]
        func unescape(_ out: inout String) {
            let next = scalars.removeFirst()
            switch next {
            case "n": out += "\n"
            case "r": out += "\r"
            case "t": out += "\t"
            case "x":
                let hex = String(String.UnicodeScalarView(scalars.prefix(2)))
                scalars.removeFirst(2)
                out.unicodeScalars.append(Unicode.Scalar(UInt32(hex, radix: 16)!)!)
            case "u":
                let hex = String(String.UnicodeScalarView(scalars.prefix(4)))
                scalars.removeFirst(4)
                out.unicodeScalars.append(Unicode.Scalar(UInt32(hex, radix: 16)!)!)
            default: out.unicodeScalars.append(next)
            }
        }
        while let first = scalars.first {
            if first == " " { scalars.removeFirst(); continue }
            var word = ""
            if first == "\"" {
                scalars.removeFirst()
                while let c = scalars.first, c != "\"" {
                    scalars.removeFirst()
                    if c == "\\" { unescape(&word) } else { word.unicodeScalars.append(c) }
                }
                scalars.removeFirst()
            } else {
                while let c = scalars.first, c != " " {
                    scalars.removeFirst()
                    if c == "\\" { unescape(&word) } else { word.unicodeScalars.append(c) }
                }
            }
            words.append(word.replacingOccurrences(of: "%%", with: "%").replacingOccurrences(of: "$$", with: "$"))
        }
        return words
    }

    static let hostile = [
        "--root-dir=/data/k8s", "/data/k 8s --anonymous-auth=true --authorization-mode=AlwaysAllow", "a\rExecStartPre=/bin/sh",
        "a\nExecStartPre=/bin/sh", "%H", "100%", "$HOME", "${PATH}", "say \"hi\"", "back\\slash", "it's", "", "tab\there",
        "\u{7f}del", "\u{85}nel", "\u{2028}ls", ";", ";x", "#x", "ünïcødé",
    ]

    @Test(arguments: hostile)
    func everyArgumentIsOneWordOnOneLine(_ argument: String) {
        let unit = SystemdUnit(comment: "test", [.init("Service", [("ExecStart", .command("/opt/k8s/bin/kubelet", ["--v=2", argument, "--last"]))])]).render()
        let lines = unit.split(separator: "\n", omittingEmptySubsequences: false)
        // Only the writer's own continuation lines follow ExecStart=; nothing starts a new directive.
        let directives = lines.filter { !$0.isEmpty && !$0.hasPrefix(" ") && !$0.hasPrefix("#") && !$0.hasPrefix("[") }
        #expect(directives.count == 1 && directives[0].hasPrefix("ExecStart="), "\(unit)")
        let value = unit.components(separatedBy: "ExecStart=")[1].replacingOccurrences(of: " \\\n  ", with: " ").trimmingCharacters(in: .newlines)
        #expect(splitLikeSystemd(value) == ["/opt/k8s/bin/kubelet", "--v=2", argument, "--last"])
        #expect(!value.unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) || $0.value == 0x2028 })
    }

    @Test func specifiersAreEscapedInEveryValue() {
        let unit = SystemdUnit(comment: "100% KubeSeed", [.init("Service", [("WorkingDirectory", .text("/srv/%H"))])]).render()
        #expect(unit == "# 100%% KubeSeed\n[Service]\nWorkingDirectory=/srv/%%H\n")
    }

    @Test func plainValuesAreWrittenAsTheyWereBefore() {
        #expect(SystemdUnit.commandWord("--node-ip=192.0.2.11") == "--node-ip=192.0.2.11")
        #expect(SystemdUnit.commandWord("--listen-client-urls=https://[2001:db8::1]:2379,https://127.0.0.1:2379")
                == "--listen-client-urls=https://[2001:db8::1]:2379,https://127.0.0.1:2379")
    }
}
