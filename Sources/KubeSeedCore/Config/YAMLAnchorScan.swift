/// Finds YAML anchors (`&name`) and aliases (`*name`) in raw text, before the text is composed.
///
/// Refusing them after composing is too late: Yams checks each mapping for duplicate keys by hashing
/// every key node, and a key that is an alias of an alias-built subtree hashes its whole expansion
/// (nine levels of nine take minutes). An anchor or alias is a token of its own, so it always starts
/// a word: at the start of the text or a line, after white space, or after a flow indicator. This
/// scan flags every such `&` or `*` that a name follows, wherever it is (inside quotes and comments
/// too): it can refuse a value like `"a &b"` that YAML would have read as text, never the other way.
public enum YAMLAnchorScan {
    /// Where the first anchor or alias starts (1-based line and column), or `nil` when there is none.
    public static func firstAnchorOrAlias(in text: String) -> (line: Int, column: Int)? {
        var line = 1
        var column = 0
        var previous: Unicode.Scalar? = nil
        var candidate: (line: Int, column: Int)? = nil
        for scalar in text.unicodeScalars {
            column += 1
            if let start = candidate {
                if !endsAName(scalar) { return start }
                candidate = nil
            }
            if (scalar == "&" || scalar == "*") && startsAWord(after: previous) {
                candidate = (line, column)
            }
            if scalar == "\n" && previous == "\r" {
                column = 0
            } else if isLineBreak(scalar) {
                line += 1
                column = 0
            }
            previous = scalar
        }
        return nil
    }

    private static func startsAWord(after previous: Unicode.Scalar?) -> Bool {
        guard let previous else { return true }
        return previous.properties.isWhitespace || "[]{},:\u{FEFF}".unicodeScalars.contains(previous)
    }

    /// An anchor's name is at least one character that is neither white space nor a flow indicator.
    private static func endsAName(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || "[]{},".unicodeScalars.contains(scalar)
    }

    /// Lines as libyaml counts them: LF, CR (CR LF is one break), NEL, LS and PS.
    private static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        "\n\r\u{85}\u{2028}\u{2029}".unicodeScalars.contains(scalar)
    }
}
