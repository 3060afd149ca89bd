import Yams

/// How KubeSeed has Yams tag its nodes: every scalar is text (Yams's `basic` resolver), read and written.
/// KubeSeed gives each value its type itself, by field (`YAMLField`), and quotes whatever another reader
/// could take for anything but text (`YAMLDocument.needsQuotes`); Yams's default resolver adds nothing to
/// that, and building it compiles seven regular expressions (ICU) in every process that touches YAML.
enum YAMLTags {
    /// A fresh implicit tag for one node: Yams resolves a tag in place, so nodes never share one.
    static func implicit() -> Tag { Tag(.implicit, .basic, .default) }

    /// The root node of `text` (nil for an empty document), its scalars tagged as text.
    static func compose(_ text: String) throws -> Node? { try Yams.compose(yaml: text, .basic, .default) }
}
