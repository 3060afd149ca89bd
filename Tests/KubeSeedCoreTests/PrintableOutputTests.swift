import Foundation
import Testing
@testable import KubeSeedCore

/// Every line `seed` and `seed-agent` print goes through `Validate.printableLines` (`CurrentProcess.write`):
/// the class of control characters a path, a name or an API answer can carry, each escaped; line breaks
/// and tabs, and printable non-ASCII (→, ✗, ←), kept.
@Suite struct PrintableOutputTests {
    @Test(arguments: [
        ("\u{1B}[31mred\u{1B}[0m", "\\u{1b}[31mred\\u{1b}[0m"),
        ("ok\rforged line", "ok\\u{d}forged line"),
        ("bell\u{07}", "bell\\u{7}"),
        ("nul\u{0}", "nul\\u{0}"),
        ("del\u{7F}", "del\\u{7f}"),
        ("c1\u{85}next", "c1\\u{85}next"),
        ("csi\u{9B}2J", "csi\\u{9b}2J"),
        ("line\u{2028}separator", "line\\u{2028}separator"),
        ("backspace\u{08}\u{08}", "backspace\\u{8}\\u{8}"),
    ])
    func eachControlCharacterIsEscaped(text: String, printed: String) {
        #expect(Validate.printableLines("seed join \(text): no such file\n") == "seed join \(printed): no such file\n")
    }

    @Test func lineBreaksTabsAndPrintableTextAreKept() {
        let text = "  [1/6] upgrade check\tok\n  ✗ one minor at a time → v1.21\n\n  ← EXPIRED\n"
        #expect(Validate.printableLines(text) == text)
        #expect(Validate.printableLines("a\n\u{1B}\tb\n") == "a\n\\u{1b}\tb\n")
        // A Windows line ending (one Character, two scalars): the line feed stays, the carriage return is escaped.
        #expect(Validate.printableLines("a\r\nb\n") == "a\\u{d}\nb\n")
    }

    /// JSON output (`seed-agent check --json`, `status --json`): the characters JSONEncoder leaves raw become
    /// JSON escapes, so the document stays valid, decodes to the same text, and nothing is left to escape.
    @Test func jsonKeepsItsMeaningAndNeedsNoFurtherEscaping() throws {
        struct Item: Codable, Equatable { var detail: String }
        let item = Item(detail: "fstab line\u{7F}\u{85}\u{9B}2J\u{2028}end \u{1B}[31m")
        let encoded = String(decoding: try JSONEncoder().encode(item), as: UTF8.self)
        let safe = Validate.jsonForOutput(encoded)
        #expect(Validate.printableLines(safe) == safe, "\(safe)")
        #expect(safe.contains("\\u007f") && safe.contains("\\u0085") && safe.contains("\\u2028"), "\(safe)")
        #expect(try JSONDecoder().decode(Item.self, from: Data(safe.utf8)) == item)
    }
}
