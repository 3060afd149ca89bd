import Yams

/// An ordered YAML document (mapping order is kept as written).
public indirect enum YAMLDocument {
    case string(String), int(Int), bool(Bool)
    case list([YAMLDocument])
    case map([(String, YAMLDocument)])

    var node: Node {
        switch self {
        case .string(let s): return Node(s, .implicit, Self.needsQuotes(s) ? .doubleQuoted : .plain)
        case .int(let i): return Node(String(i))
        case .bool(let b): return Node(b ? "true" : "false")
        case .list(let items): return Node(items.map(\.node))
        case .map(let pairs): return Node(pairs.map { (Node($0.0), $0.1.node) })
        }
    }

    /// Strings YAML would read as something else (numbers, booleans, null) or that carry
    /// special characters are emitted double-quoted so they re-parse as strings.
    static func needsQuotes(_ s: String) -> Bool {
        if s.isEmpty || Int(s) != nil || Double(s) != nil { return true }
        if ["true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"].contains(s.lowercased()) { return true }
        return s.contains(": ") || s.contains(" #") || s.hasPrefix("-") || s.hasPrefix("[") || s.hasPrefix("{")
            || s.hasPrefix("*") || s.hasPrefix("&") || s.hasPrefix("!") || s.hasPrefix("%") || s.hasPrefix("@")
            || s.hasPrefix("`") || s.hasPrefix("'") || s.hasPrefix("\"") || s.hasSuffix(":") || s.contains("\n")
    }

    /// Renders `pairs` as a YAML mapping after `header` (the project's one YAML emitter).
    public static func render(header: String, _ pairs: [(String, YAMLDocument)]) -> String {
        // Serializing a tree of plain scalars, sequences and mappings does not fail.
        header + ((try? Yams.serialize(node: YAMLDocument.map(pairs).node, indent: 2, width: -1, sortKeys: false)) ?? "")
    }
}
