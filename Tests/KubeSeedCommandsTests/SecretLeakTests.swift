import Foundation
import Glibc
import KubeSeedCore
import KubeSeedTestSupport
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedHost
import KubeSeedHostFakes

/// No output channel of the agent quotes a token from a join file, whatever is wrong with the file: the
/// whole corpus of bad join files (Tests/Fixtures/bad-join-files) goes through the agent's pass for real
/// against a temporary root (kmod, swap and D-Bus are the recording fakes), and every channel is searched:
/// what the agent prints (the journal), `STATUS=` (the summary), the status file, and `seed-agent validate`.
@Suite struct SecretLeakTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/bad-join-files")
    static var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
    }

    @Test func theCorpusHasTheTyposThatPutATokenAnywhere() {
        #expect(Self.names.filter { $0.contains("token") }.count >= 7)
    }

    @Test(arguments: names)
    func noChannelQuotesTheToken(_ name: String) async throws {
        let text = try String(contentsOf: Self.corpus.appendingPathComponent(name), encoding: .utf8)
        let secrets = TokenShapes.secrets(in: text)
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, JoinFile.defaultPath, text)
        chmod(host.root.resolve(JoinFile.defaultPath), 0o600)
        let operations = AgentOperations(root: host.root, effects: host.effects, settings: NodePrepSettings(), effectiveUID: 0)
        let pass = await operations.converge()
        #expect(!pass.status.ready)
        try operations.writeStatus(pass.status)
        let statusFile = try #require(try host.root.readText(AgentStatus.defaultPath))
        #expect(host.root.mode(AgentStatus.defaultPath) == 0o600)
        var validate = ""
        do { _ = try AgentOperations.loadJoinFile(root: host.root, path: JoinFile.defaultPath, effectiveUID: 0) } catch { validate = "\(error)" }
        #expect(!validate.isEmpty)
        for channel in [pass.output, pass.status.summary, statusFile, validate] {
            for secret in secrets { #expect(!channel.contains(secret), "\(name): a message repeats a token: \(channel)") }
        }
        // The message still says where: the file and the field or line.
        #expect(validate.contains(JoinFile.defaultPath))
    }

    @Test func aJoinFileReachedThroughASymlinkIsRefused() throws {
        let host = try TemporaryHost()
        try TemporaryHost.write(host.root, "/root/join.yaml", ConvergeTests().joinText())
        chmod(host.root.resolve("/root/join.yaml"), 0o600)
        symlink(host.root.resolve("/root/join.yaml"), host.root.resolve(JoinFile.defaultPath))
        #expect { _ = try AgentOperations.loadJoinFile(root: host.root, path: JoinFile.defaultPath, effectiveUID: 0) } throws: { error in
            (error as? ConfigError)?.code == .permissions && "\(error)".contains("symbolic link")
        }
    }
}
