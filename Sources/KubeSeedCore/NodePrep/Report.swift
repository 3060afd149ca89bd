import Foundation

/// Renders plan items for the terminal or as JSON.
public enum Report {
    /// A fixed-width table: ITEM, STATE, DETAIL.
    public static func table(_ items: [PlanItem]) -> String {
        let nameWidth = max(4, items.map(\.name.count).max() ?? 0)
        let stateWidth = max(5, items.map(\.state.rawValue.count).max() ?? 0)
        var out = pad("ITEM", nameWidth) + "  " + pad("STATE", stateWidth) + "  DETAIL\n"
        for item in items {
            out += pad(item.name, nameWidth) + "  " + pad(item.state.rawValue, stateWidth) + "  " + item.detail + "\n"
        }
        return out
    }

    /// One-line tally, e.g. `42 ok, 3 will change, 1 warn, 0 fail`.
    public static func summary(_ items: [PlanItem]) -> String {
        func count(_ state: CheckState) -> Int { items.filter { $0.state == state }.count }
        return "\(count(.ok)) ok, \(count(.change)) will change, \(count(.warn)) warn, \(count(.fail)) fail"
    }

    struct JSONItem: Codable {
        var item: String
        var state: String
        var detail: String
        var changes: [String]
    }

    struct JSONReport: Codable {
        var ok: Bool
        var items: [JSONItem]
    }

    public static func json(_ items: [PlanItem]) -> String {
        let report = JSONReport(
            ok: !items.contains { $0.state == .fail },
            items: items.map { JSONItem(item: $0.name, state: $0.state.rawValue, detail: $0.detail, changes: $0.steps.map(\.description)) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Validate.jsonForOutput(String(decoding: (try? encoder.encode(report)) ?? Data(), as: UTF8.self)) + "\n"
    }

    private static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}
