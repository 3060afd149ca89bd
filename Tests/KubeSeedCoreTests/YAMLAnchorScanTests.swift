import Testing
import Yams
@testable import KubeSeedCore

/// Unit tests (pure logic, against Yams itself as the oracle) of the scan that refuses anchors and
/// aliases before a text is composed.
@Suite struct YAMLAnchorScanTests {
    @Test(arguments: [
        ("a: &x 1\nb: *x\n", 1, 4),
        ("z: {*h: 1}\n", 1, 5),
        ("? *j\n: 1\n", 1, 3),
        ("- [x, *y]\n", 1, 7),
        ("a: 1\r\nb: &x 2\n", 2, 4),
        ("a: 1\rb: &x 2\n", 2, 4),
        ("a: 1\u{2028}&x b\n", 2, 1),
        ("a: \"quoted &b\"\n", 1, 12),
        ("# a comment *with a star\n", 1, 13),
        ("\u{FEFF}&a x\n", 1, 2),
    ])
    func findsEveryAnchorOrAliasWithItsPlace(_ text: String, _ line: Int, _ column: Int) throws {
        let found = try #require(YAMLAnchorScan.firstAnchorOrAlias(in: text))
        #expect(found.line == line && found.column == column, "\(found)")
    }

    @Test(arguments: ["a: b&c\n", "url: https://x/?a=1&b=2\n", "a: 2 * 3\n", "a: x*\n", "# R&D, & more\n", "a: '&'\n", "a: [b, '* ']\n"])
    func leavesTextThatCannotBeAnAnchor(_ text: String) {
        #expect(YAMLAnchorScan.firstAnchorOrAlias(in: text) == nil)
    }

    /// Random documents with anchors and aliases in every place YAML allows them (values, keys, flow
    /// collections, after tags, after every kind of line break and separation): every one Yams composes
    /// with an alias in it (a node it hands back twice) must have been flagged by the scan first.
    @Test func flagsEveryAliasYamsResolves() {
        var random = SplitMix64(seed: 0x6b75_6265_7365_6564)
        func pick(_ choices: [String]) -> String { choices[Int(random.next() % UInt64(choices.count))] }
        var composedWithAliases = 0
        for _ in 0..<5_000 {
            var text = pick(["", "\u{FEFF}", "--- ", "---\n", "%YAML 1.1\n---\n"])
            var anchors = 0
            for entry in 0..<Int(random.next() % 6 + 1) {
                let alias = anchors > 0 ? "*a\(random.next() % UInt64(anchors))" : "x"
                let anchor = "&a\(anchors)"
                let value = pick(["\(anchor) x", "\(anchor) [x, y]", "\(anchor) {k: v}", "!t \(anchor) x", "\(anchor) !!str x",
                                  alias, "[\(alias), \(anchor) z]", "{\(alias): 1}", "{k:\(alias)}", "{\"k\":\(alias)}", "[\"k\":\(anchor) x]", "[\(anchor)\tq]", "'q'", "\"q\""])
                if value.contains(anchor) { anchors += 1 }
                let key = pick(["k\(entry)", "? \(alias)\n", "\"k\(entry)\""])
                let separator = key.hasPrefix("?") ? ":" + pick([" ", "\t"]) : pick([": ", ":\t", ":  "])
                text += key + separator + value + pick(["\n", "\r\n", "\r", "\u{85}", "\u{2028}", " # c\n"])
            }
            guard let node = try? Yams.compose(yaml: text), Self.hasAlias(node) else { continue }
            composedWithAliases += 1
            #expect(YAMLAnchorScan.firstAnchorOrAlias(in: text) != nil, "\(text.debugDescription)")
        }
        #expect(composedWithAliases > 500, "the generator must reach texts with aliases to test anything")
    }

    /// Yams resolves an alias to the anchored node itself: a source position handed back twice.
    static func hasAlias(_ node: Node) -> Bool {
        var seen = Set<String>()
        func visit(_ node: Node) -> Bool {
            // Only a scalar's position is its own: a collection starts where its first entry does, and an
            // empty scalar (a null) where what follows it does.
            if let scalar = node.scalar, !scalar.string.isEmpty, let mark = node.mark,
               !seen.insert("\(mark.line):\(mark.column)").inserted { return true }
            switch node {
            case .mapping(let mapping): return mapping.contains { visit($0.key) || visit($0.value) }
            case .sequence(let sequence): return sequence.contains { visit($0) }
            default: return false
            }
        }
        return visit(node)
    }

    @Test func theFuzzersAliasKeyIsRefusedBeforeComposing() throws {
        let url = BadJoinCorpus.directory.appendingPathComponent("37-alias-as-a-mapping-key.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        let error = try #require(throws: ConfigError.self) { try ClusterConfig.parse(text, file: "c.yaml") }
        #expect(error.code == .aliasNotAllowed && error.line == 2, "\(error)")
        #expect(SecretRedaction.scalars(of: text).count < 200)
    }
}

/// A small deterministic generator (SplitMix64), so a failure names an input that comes back.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
