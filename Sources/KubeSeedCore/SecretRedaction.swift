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
        var text = message
        // Longest first, so a value that contains another is withheld whole.
        for value in scalars(of: fileText).filter({ $0.count >= 6 }).sorted(by: { $0.count > $1.count }) {
            text = text.replacingOccurrences(of: value, with: placeholder)
        }
        for pattern in ["'[^']*'", "\"[^\"]*\"", tokenShape, "\\b[a-z0-9]{16}\\b"] {
            text = text.replacingOccurrences(of: pattern, with: pattern.hasPrefix("'") ? "'\(placeholder)'" : placeholder,
                                             options: .regularExpression)
        }
        return text == message ? text : text + note
    }

    /// Every scalar in the document, and every key that is not a plain word (a missing colon makes a token
    /// part of a key); none
    /// when it does not parse. Yams hands back an anchored node at each of its aliases: a position seen
    /// once is not visited again, so an alias bomb costs one visit per node written, not its expansion.
    static func scalars(of text: String) -> [String] {
        guard let node = try? Yams.compose(yaml: text) else { return [] }
        var values: [String] = []
        var seen = Set<String>()
        func visit(_ node: Node) {
            if let mark = node.mark, !seen.insert("\(mark.line):\(mark.column)").inserted { return }
            guard values.count < 10_000 else { return }
            switch node {
            case .scalar(let scalar): values.append(scalar.string)
            case .mapping(let mapping):
                for (key, value) in mapping {
                    // Schema keys are plain words; a key with anything else in it is data (a label, or a token after a typo).
                    if case .scalar(let scalar) = key, !scalar.string.allSatisfy({ $0.isASCII && $0.isLetter }) { values.append(scalar.string) }
                    visit(value)
                }
            case .sequence(let sequence): for item in sequence { visit(item) }
            case .alias: break
            }
        }
        visit(node)
        return values
    }
}

extension ConfigError {
    /// This error with every value of `fileText` withheld from its message (see `SecretRedaction`).
    public func withholdingValues(of fileText: String) -> ConfigError {
        var error = self
        error.message = SecretRedaction.withholdValues(in: message, of: fileText)
        // A key can carry the token too (`token abcdef.…` inside a flow mapping); field paths are
        // otherwise schema words and label keys, kept as they are so the message still says where.
        error.field = field.map { $0.replacingOccurrences(of: SecretRedaction.tokenShape, with: SecretRedaction.placeholder, options: .regularExpression) }
        return error
    }
}
