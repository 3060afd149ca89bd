import Foundation
import KubeSeedTestSupport
import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic) that replay the fuzzers' findings through the parsers as plain tests, so a
/// regression fails `swift test` without a fuzz build. Inputs: Fuzz/regressions/TARGET/.
@Suite struct FuzzRegressionTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/regressions").standardizedFileURL

    static func inputs(_ target: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent(target).path)) ?? []
        return names.sorted().map { "\(target)/\($0)" }
    }

    @Test(arguments: inputs("join-file") + inputs("cluster-config") + inputs("agent-config"))
    func aFindingIsRefusedWithAConfigErrorAndNoSecret(_ input: String) throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent(input))
        // As the fuzz targets see it: invalid UTF-8 repaired.
        let text = String(decoding: data, as: UTF8.self)
        let error = try #require(throws: ConfigError.self) {
            switch input.split(separator: "/")[0] {
            case "cluster-config": _ = try ClusterConfig.parse(text, file: "cluster.yaml")
            case "agent-config": _ = try AgentConfig.parse(text, file: "agent.yaml")
            default: _ = try JoinFile.parse(text, file: "join.yaml", now: Date(timeIntervalSince1970: 1_893_456_000))
            }
        }
        #expect(TokenShapes.leaked(from: text, into: error.description) == nil, "\(error)")
    }

    @Test func everyTargetHasItsFindings() {
        #expect(Self.inputs("join-file").count >= 5 && Self.inputs("cluster-config").count >= 1 && Self.inputs("agent-config").count >= 1)
    }
}
