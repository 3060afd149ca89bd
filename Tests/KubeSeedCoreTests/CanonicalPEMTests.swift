import Foundation
import Testing
@testable import KubeSeedCore

/// The approver judges only a request whose bytes are one canonical PEM block. Each row is an input
/// the API server and the kubelet-serving signer read with Go's `encoding/pem` (rules from its
/// documentation and source: `Decode` skips anything before a line starting `-----BEGIN `, returns the
/// first block and leaves the rest unread, accepts `Key: value` headers, ignores whitespace at the end
/// of the armour lines and CR before LF, and skips a BEGIN that has no matching END); `goSigns` says
/// which request Go would hand the signer. Every row but the canonical one must be denied: the
/// approver would otherwise judge one request while the signer signs another. Pure: no API server.
@Suite struct CanonicalPEMTests {
    let own: [UInt8]
    let other: [UInt8]

    init() throws {
        own = try CSRMaker.pem(cn: "system:node:worker-1", dns: ["worker-1"], ips: [[192, 0, 2, 11]])
        // What an attacker wants signed: the API server's names under the cluster CA.
        other = try CSRMaker.pem(cn: "system:node:worker-1", dns: ["kubernetes.default.svc", "localhost"], ips: [[192, 0, 2, 10]])
    }

    struct Row: CustomStringConvertible {
        var description: String
        var bytes: [UInt8]
        /// What Go's encoding/pem hands the signer: the first complete block.
        var goSigns: String
        /// What the refusal must say.
        var reason: String
    }

    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    var rows: [Row] {
        let ownText = text(own), otherText = text(other)
        let lines = ownText.split(separator: "\n", omittingEmptySubsequences: false)
        let body = lines.dropFirst().dropLast(2).joined(separator: "\n")
        return [
            Row(description: "two blocks, the other first", bytes: other + own, goSigns: "the first (other)", reason: "2 PEM blocks"),
            Row(description: "two blocks, own first", bytes: own + other, goSigns: "the first (own), rest ignored", reason: "2 PEM blocks"),
            Row(description: "text after the END line", bytes: own + bytes("junk\n"), goSigns: "own; the rest ignored", reason: "after the END line"),
            Row(description: "a second newline after END", bytes: own + bytes("\n"), goSigns: "own", reason: "after the END line"),
            Row(description: "text before the BEGIN line", bytes: bytes("hello\n") + own, goSigns: "own; leading text skipped", reason: "before the BEGIN line"),
            Row(description: "whitespace after BEGIN", bytes: bytes(ownText.replacingOccurrences(of: "REQUEST-----\n", with: "REQUEST----- \t\n")),
                goSigns: "own (trailing spaces of the armour line are trimmed)", reason: "BEGIN line has more"),
            Row(description: "CRLF line ends", bytes: bytes(ownText.replacingOccurrences(of: "\n", with: "\r\n")), goSigns: "own (CR before LF is accepted)", reason: "carriage return"),
            Row(description: "truncated: no END line", bytes: bytes(lines.dropLast(2).joined(separator: "\n") + "\n"), goSigns: "nothing (no END): the API server refuses it", reason: "truncated"),
            Row(description: "truncated first block, then another", bytes: bytes(lines.dropLast(2).joined(separator: "\n") + "\n") + other,
                goSigns: "the other (a BEGIN without END is skipped)", reason: "2 PEM blocks"),
            Row(description: "a block of another type first", bytes: bytes("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n") + own,
                goSigns: "the CERTIFICATE block (the API server then refuses its type)", reason: "2 PEM blocks"),
            Row(description: "a header line", bytes: bytes("-----BEGIN CERTIFICATE REQUEST-----\nProc-Type: 4,ENCRYPTED\n\n" + body + "\n-----END CERTIFICATE REQUEST-----\n"),
                goSigns: "own, with the header", reason: "canonical"),
            Row(description: "body in lines of 76", bytes: bytes("-----BEGIN CERTIFICATE REQUEST-----\n"
                + stride(from: 0, to: body.filter { $0 != "\n" }.count, by: 76).map { start -> String in
                    let flat = Array(body.filter { $0 != "\n" })
                    return String(flat[start..<min(start + 76, flat.count)])
                }.joined(separator: "\n") + "\n-----END CERTIFICATE REQUEST-----\n"), goSigns: "own (any line length)", reason: "canonical"),
            Row(description: "a space inside the body", bytes: bytes("-----BEGIN CERTIFICATE REQUEST-----\n " + body + "\n-----END CERTIFICATE REQUEST-----\n"),
                goSigns: "own (whitespace in base64 is skipped)", reason: "base64"),
            Row(description: "NEW CERTIFICATE REQUEST type", bytes: bytes(ownText.replacingOccurrences(of: "CERTIFICATE REQUEST", with: "NEW CERTIFICATE REQUEST")),
                goSigns: "a block the API server refuses by type", reason: "not a CERTIFICATE REQUEST"),
            Row(description: "no final newline", bytes: Array(own.dropLast()), goSigns: "own", reason: "END line"),
            Row(description: "empty", bytes: [], goSigns: "nothing", reason: "no PEM block"),
        ]
    }

    @Test func theCanonicalFormIsTheOneAcceptedAndItIsWhatAKubeletSends() throws {
        let der = try CanonicalPEM.der(own, type: "CERTIFICATE REQUEST")
        #expect(CanonicalPEM.encode(der, type: "CERTIFICATE REQUEST") == own)
    }

    @Test func everyOtherFormGoCouldReadIsRefusedWithItsReason() {
        for row in rows {
            do {
                _ = try CanonicalPEM.der(row.bytes, type: "CERTIFICATE REQUEST")
                Issue.record("accepted: \(row) (Go signs \(row.goSigns))")
            } catch {
                #expect(error.description.contains(row.reason), "\(row): \(error)")
            }
        }
    }

    @Test func theApproverDeniesEachOfThemEvenWhenTheFirstBlockIsTheNodesOwn() {
        let book = AddressBook(nodes: ["worker-1": "192.0.2.11"], masters: ["master-1": "192.0.2.10"], serviceCIDR: "10.254.0.0/16", roles: ["worker-1": ["worker"]])
        let addresses = [NodeAddress("InternalIP", "192.0.2.11"), NodeAddress("Hostname", "worker-1")]
        for row in rows {
            let verdict = KubeletServingReview.review(CSRMaker.facts(request: row.bytes), nodeAddresses: addresses, book: book)
            guard case .deny(let reason) = verdict else { Issue.record("\(row): \(verdict)"); continue }
            #expect(reason.contains("canonical PEM"), "\(row): \(reason)")
        }
        #expect(KubeletServingReview.review(CSRMaker.facts(request: own), nodeAddresses: addresses, book: book)
                    == .approve("node worker-1: CN, organization and usages are a kubelet's; every name is the node's own"))
    }
}
