import Yams

/// An ordered YAML document (mapping order is kept as written).
public indirect enum YAMLDocument {
    case string(String), int(Int), bool(Bool)
    case list([YAMLDocument])
    case map([(String, YAMLDocument)])

    var node: Node {
        switch self {
        case .string(let s): return Node(s, YAMLTags.implicit(), Self.needsQuotes(s) ? .doubleQuoted : .plain)
        case .int(let i): return Node(String(i), YAMLTags.implicit())
        case .bool(let b): return Node(b ? "true" : "false", YAMLTags.implicit())
        case .list(let items): return Node(items.map(\.node), YAMLTags.implicit())
        case .map(let pairs): return Node(pairs.map { (Node($0.0, YAMLTags.implicit()), $0.1.node) }, YAMLTags.implicit())
        }
    }

    /// Everything but a plain word is emitted double-quoted, so that no YAML reader (1.2 like Yams, or
    /// 1.1 like the Go YAML the kubelet uses) takes it for a number, a boolean, a null, a timestamp, a
    /// base-60 number (`1:20`) or anything but the string it is. A plain word starts with a letter or `/`
    /// (never a digit, sign, dot or indicator), holds only letters, digits and `._/-:+=*@` (no space, so
    /// no `: ` or ` #`), does not end in `:`, and is not one of YAML 1.1's boolean or null words.
    static func needsQuotes(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic || first == "/" else { return true }
        guard s.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._/-:+=*@".unicodeScalars.contains($0)) }) else {
            return true
        }
        if s.hasSuffix(":") { return true }
        return ["y", "yes", "n", "no", "true", "false", "on", "off", "null", "nan", "inf"].contains(s.lowercased())
    }

    /// Renders `pairs` as a YAML mapping after `header` (the project's one YAML emitter).
    public static func render(header: String, _ pairs: [(String, YAMLDocument)]) -> String {
        // Serializing a tree of plain scalars, sequences and mappings does not fail.
        header + ((try? Yams.serialize(node: YAMLDocument.map(pairs).node, indent: 2, width: -1, sortKeys: false)) ?? "")
    }
}
