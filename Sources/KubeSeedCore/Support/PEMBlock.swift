/// Finding one block in PEM text that holds several (the kubelet keeps its certificate and key in one file).
public enum PEMBlock {
    /// The first `-----BEGIN TYPE-----` … `-----END TYPE-----` block of `text`, markers included.
    public static func first(_ type: String, in text: String) -> String? {
        let begin = "-----BEGIN \(type)-----", end = "-----END \(type)-----"
        guard let start = text.range(of: begin), let stop = text.range(of: end, range: start.upperBound..<text.endIndex) else { return nil }
        return String(text[start.lowerBound..<stop.upperBound]) + "\n"
    }
}
