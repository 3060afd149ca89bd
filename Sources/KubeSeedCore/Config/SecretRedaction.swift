import Foundation
import Yams

/// Messages about a file that holds a secret (the join file and its bootstrap token) never repeat a
/// value from that file: a typo can put the token anywhere (`bootstrap: abcdef.…` on one line, a
/// missing colon), and a message reaches the journal, `STATUS=` and the status file. This is the one
/// place such messages pass through; the field path and line still say where the problem is.
public enum SecretRedaction {
    /// What stands in for a withheld value.
    public static let placeholder = "…"
    /// A token, or what a typo made of one: six characters, a dot, sixteen or more (not the tail of a longer word).
    static let tokenShape = "(?<![A-Za-z0-9])[A-Za-z0-9]{6}\\.[A-Za-z0-9]{16,}"
    public static let note = " (values from this file are not repeated: it holds a bootstrap token)"

    /// `message` with every value of `fileText` withheld: quoted spans, each scalar of the document
    /// (6 characters or more), and anything shaped like a token or its secret half.
    public static func withholdValues(in message: String, of fileText: String) -> String {
        let text = withholdingScalars(of: fileText, from: message)
        return text == message ? text : text + note
    }

    /// `field` (a dotted path of keys) with anything shaped like a token or its secret half withheld,
    /// glued to other letters or not. Schema keys (camel case) and label keys stay, so the path still
    /// says where; a run of 16 or more lower-case letters and digits is taken for a secret.
    static func withholdValues(inField field: String) -> String {
        field.replacingOccurrences(of: tokenShape, with: placeholder, options: .regularExpression)
            .replacingOccurrences(of: "[A-Za-z0-9]*[a-z0-9]{16,}[A-Za-z0-9]*", with: placeholder, options: .regularExpression)
    }

    private static func withholdingScalars(of fileText: String, from message: String) -> String {
        var text = message
        // Longest first, so a value that contains another is withheld whole.
        for value in scalars(of: fileText).filter({ $0.count >= 6 }).sorted(by: { $0.count > $1.count }) {
            // The standard library's literal search: Foundation's traps on some texts (NULs after U+FFFD, found by fuzzing).
            text = text.replacing(value, with: placeholder)
        }
        for pattern in ["'[^']*'", "\"[^\"]*\"", tokenShape, "\\b[a-z0-9]{16}\\b"] {
            text = text.replacingOccurrences(of: pattern, with: pattern.hasPrefix("'") ? "'\(placeholder)'" : placeholder,
                                             options: .regularExpression)
        }
        return text
    }

    /// Every scalar in the document, and every key that is not a plain word (a missing colon makes a token
    /// part of a key). A text that is not composed (it does not parse, or it has anchors, which are refused
    /// before composing: see `YAMLAnchorScan`) gives its words instead: every run of characters that are
    /// not white space or YAML punctuation.
    static func scalars(of text: String) -> [String] {
        guard YAMLAnchorScan.firstAnchorOrAlias(in: text) == nil, let node = try? YAMLTags.compose(text) else {
            return words(of: text)
        }
        var values: [String] = []
        func visit(_ node: Node) {
            switch node {
            case .scalar(let scalar): values.append(scalar.string)
            case .mapping(let mapping):
                for (key, value) in mapping {
                    // Schema keys are plain words; a key with anything else in it is data (a label, or a token after a typo).
                    if case .scalar(let scalar) = key, !scalar.string.allSatisfy(\.isASCIILetter) { values.append(scalar.string) }
                    visit(value)
                }
            case .sequence(let sequence): for item in sequence { visit(item) }
            case .alias: break
            }
        }
        visit(node)
        return values
    }

    static func words(of text: String) -> [String] {
        let separators = Set(" \t\r\n:,[]{}'\"#&*!|>?-\u{85}\u{2028}\u{2029}".unicodeScalars)
        var spaced = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { spaced.append(separators.contains(scalar) ? " " : scalar) }
        return String(spaced).split(separator: " ").map(String.init)
    }
}

extension ConfigError {
    /// This error with every value of `fileText` withheld from its message (see `SecretRedaction`).
    public func withholdingValues(of fileText: String) -> ConfigError {
        var error = self
        error.message = SecretRedaction.withholdValues(in: message, of: fileText)
        error.field = field.map { SecretRedaction.withholdValues(inField: $0) }
        return error
    }
}
