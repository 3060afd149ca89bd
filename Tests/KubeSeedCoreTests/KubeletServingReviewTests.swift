import Crypto
import Foundation
import SwiftASN1
import Testing
import X509
@testable import KubeSeedCore

/// Makes real PKCS#10 requests (swift-certificates) for the approver's tests.
enum CSRMaker {
    static func pem(cn: String, organizations: [String] = ["system:nodes"], dns: [String] = [], ips: [[UInt8]] = [],
                    emails: [String] = []) throws -> [UInt8] {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName {
            CommonName(cn)
            for organization in organizations { OrganizationName(organization) }
        }
        let names = dns.map { GeneralName.dnsName($0) } + ips.map { GeneralName.ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
            + emails.map { GeneralName.rfc822Name($0) }
        var attributes = CertificateSigningRequest.Attributes()
        if !names.isEmpty {
            let extensions = try Certificate.Extensions { SubjectAlternativeNames(names) }
            attributes.insert(try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: extensions)))
        }
        let request = try CertificateSigningRequest(version: .v1, subject: subject, privateKey: key, attributes: attributes,
                                                    signatureAlgorithm: .ecdsaWithSHA256)
        // As a kubelet sends it (Go's pem.EncodeToMemory): one block, lines of 64, one final newline.
        return Array((try request.serializeAsPEM().pemString + "\n").utf8)
    }

    static func facts(_ name: String = "csr-1", node: String = "worker-1", request: [UInt8], usages: [String] = ["digital signature", "server auth"],
                      groups: [String] = ["system:nodes", "system:authenticated"], signer: String = KubeletServingReview.signer) -> CSRFacts {
        CSRFacts(name: name, resourceVersion: "7", signerName: signer, username: "system:node:\(node)", groups: groups, usages: usages, request: request)
    }
}

/// The approver's checks, pure: real CSRs in, verdicts out. Each refusal is one check failing alone.
@Suite struct KubeletServingReviewTests {
    let book = AddressBook(nodes: ["worker-1": "192.0.2.11", "worker-2": "192.0.2.12"], masters: ["master-1": "192.0.2.10"],
                           serviceCIDR: "10.254.0.0/16", roles: ["worker-1": ["worker"], "worker-2": ["worker"], "master-1": ["control-plane"]])
    let addresses = [NodeAddress("InternalIP", "192.0.2.11"), NodeAddress("Hostname", "worker-1")]

    func verdict(_ csr: CSRFacts, _ addresses: [NodeAddress]? = nil) -> KubeletServingReview.Verdict {
        KubeletServingReview.review(csr, nodeAddresses: addresses ?? self.addresses, book: book)
    }

    func denial(_ csr: CSRFacts, _ addresses: [NodeAddress]? = nil) -> String? {
        if case .deny(let reason) = verdict(csr, addresses) { return reason }
        return nil
    }

    @Test func aKubeletsOwnRequestIsApprovedWithEitherKeyTypesUsages() throws {
        let request = try CSRMaker.pem(cn: "system:node:worker-1", dns: ["worker-1"], ips: [[192, 0, 2, 11]])
        guard case .approve = verdict(CSRMaker.facts(request: request)) else { Issue.record("not approved: \(verdict(CSRMaker.facts(request: request)))"); return }
        let rsa = CSRMaker.facts(request: request, usages: ["digital signature", "key encipherment", "server auth"])
        guard case .approve = verdict(rsa) else { Issue.record("RSA usages not approved"); return }
    }

    @Test func otherSignersAndDecidedRequestsAreNotTouched() throws {
        let request = try CSRMaker.pem(cn: "system:node:worker-1", ips: [[192, 0, 2, 11]])
        #expect(verdict(CSRMaker.facts(request: request, signer: "kubernetes.io/kube-apiserver-client-kubelet")) == .notOurs)
        var decided = CSRMaker.facts(request: request)
        decided.decided = true
        #expect(verdict(decided) == .notOurs)
    }

    @Test(arguments: [
        ("a requester that is not a node", "not a node"),
        ("a node outside system:nodes", "not in the group system:nodes"),
        ("client auth among the usages", "not exactly the serving ones"),
        ("a usage twice", "not exactly the serving ones"),
        ("another node's CN", "CN is not system:node:worker-1"),
        ("system:masters as organization", "organization is not exactly system:nodes"),
        ("a second organization", "organization is not exactly system:nodes"),
        ("no names", "names no DNS name or IP address"),
        ("an IP the node does not have", "IP 192.0.2.99 is not one of node worker-1's addresses"),
        ("a DNS name the node does not have", "DNS name worker-1 is not one of node worker-1's addresses"),
        ("an e-mail address", "other than DNS names and IP addresses"),
        ("not a PEM request", "not a PKCS#10"),
    ])
    func eachFailedCheckIsADenialWithItsReason(_ case_: String, _ reason: String) throws {
        let good = try CSRMaker.pem(cn: "system:node:worker-1", dns: ["worker-1"], ips: [[192, 0, 2, 11]])
        var csr = CSRMaker.facts(request: good)
        var claimed: [NodeAddress]? = nil
        switch case_ {
        case "a requester that is not a node": csr.username = "system:serviceaccount:kube-system:evil"
        case "a node outside system:nodes": csr.groups = ["system:authenticated"]
        case "client auth among the usages": csr.usages = ["digital signature", "server auth", "client auth"]
        case "a usage twice": csr.usages = ["digital signature", "server auth", "server auth"]
        case "another node's CN": csr.request = try CSRMaker.pem(cn: "system:node:worker-2", ips: [[192, 0, 2, 11]])
        case "system:masters as organization": csr.request = try CSRMaker.pem(cn: "system:node:worker-1", organizations: ["system:masters"], ips: [[192, 0, 2, 11]])
        case "a second organization": csr.request = try CSRMaker.pem(cn: "system:node:worker-1", organizations: ["system:nodes", "system:masters"], ips: [[192, 0, 2, 11]])
        case "no names": csr.request = try CSRMaker.pem(cn: "system:node:worker-1")
        case "an IP the node does not have": csr.request = try CSRMaker.pem(cn: "system:node:worker-1", ips: [[192, 0, 2, 99]])
        case "a DNS name the node does not have":
            csr.request = try CSRMaker.pem(cn: "system:node:worker-1", dns: ["worker-1"])
            claimed = [NodeAddress("InternalIP", "192.0.2.11")]
        case "an e-mail address": csr.request = try CSRMaker.pem(cn: "system:node:worker-1", ips: [[192, 0, 2, 11]], emails: ["a@b.c"])
        case "not a PEM request": csr.request = Array("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n".utf8)
        default: Issue.record("unknown case \(case_)")
        }
        let denied = denial(csr, claimed)
        #expect(denied?.contains(reason) == true, "\(case_): \(String(describing: denied))")
    }

    /// A compromised node writes its own status.addresses: what it claims there is not enough.
    @Test(arguments: [
        ([UInt8]([192, 0, 2, 10]), "192.0.2.10", "IP 192.0.2.10 is master master-1's"),
        ([192, 0, 2, 12], "192.0.2.12", "IP 192.0.2.12 is node worker-2's"),
        ([10, 254, 0, 1], "10.254.0.1", "IP 10.254.0.1 is in the service range 10.254.0.0/16"),
        ([192, 0, 2, 13], "192.0.2.13", "IP 192.0.2.13 is not 192.0.2.11, the IP node worker-1 was joined with"),
    ])
    func anAddressTheNodeClaimsForItselfIsCheckedAgainstWhatTheMasterMinted(_ ip: [UInt8], _ text: String, _ reason: String) throws {
        let request = try CSRMaker.pem(cn: "system:node:worker-1", ips: [[192, 0, 2, 11], ip])
        let claimed = addresses + [NodeAddress("InternalIP", text)]
        #expect(denial(CSRMaker.facts(request: request), claimed) == reason)
    }

    /// The certificate is signed by the cluster CA: a name the node writes into its own status must still be its own.
    @Test(arguments: ["worker-2", "master-1", "kubernetes.default.svc", "kubernetes", "*.worker-1", "worker-1.", "WORKER-1.example", "192.0.2.11"])
    func aDNSNameOtherThanTheNodesOwnIsDeniedEvenWhenItsStatusClaimsIt(_ dns: String) throws {
        let request = try CSRMaker.pem(cn: "system:node:worker-1", dns: ["worker-1", dns])
        #expect(denial(CSRMaker.facts(request: request), addresses + [NodeAddress("Hostname", dns)]) == "DNS name \(dns) is not the node's own name worker-1")
    }

    @Test func theNodesOwnNameMatchesWhateverItsCase() throws {
        let request = try CSRMaker.pem(cn: "system:node:worker-1", dns: ["Worker-1"])
        guard case .approve = verdict(CSRMaker.facts(request: request)) else { Issue.record("\(verdict(CSRMaker.facts(request: request)))"); return }
    }

    @Test func anIPv4MappedIPv6AddressIsTheIPv4AddressItMaps() throws {
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10]
        let request = try CSRMaker.pem(cn: "system:node:worker-1", ips: [mapped])
        #expect(denial(CSRMaker.facts(request: request), addresses + [NodeAddress("InternalIP", "::ffff:192.0.2.10")]) == "IP 192.0.2.10 is master master-1's")
        let own = try CSRMaker.pem(cn: "system:node:worker-1", ips: [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 11]])
        guard case .approve = verdict(CSRMaker.facts(request: own)) else { Issue.record("its own IP, mapped: \(verdict(CSRMaker.facts(request: own)))"); return }
    }

    @Test func aSubjectWithAMultiValuedNameOrExtraExtensionsIsDenied() throws {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let multi = try DistinguishedName([
            RelativeDistinguishedName([.init(type: .RDNAttributeType.commonName, utf8String: "system:node:worker-1"),
                                       .init(type: .RDNAttributeType.organizationalUnitName, utf8String: "x")]),
            RelativeDistinguishedName(.init(type: .RDNAttributeType.organizationName, utf8String: "system:nodes")),
        ])
        let sans = try Certificate.Extensions { SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [192, 0, 2, 11]))]) }
        var attributes = CertificateSigningRequest.Attributes()
        attributes.insert(try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: sans)))
        let multiRequest = try CertificateSigningRequest(version: .v1, subject: multi, privateKey: key, attributes: attributes, signatureAlgorithm: .ecdsaWithSHA256)
        #expect(denial(CSRMaker.facts(request: Array(try multiRequest.serializeAsPEM().pemString.utf8) + [10])) == "the subject names more than CN and O")

        let subject = try DistinguishedName { CommonName("system:node:worker-1"); OrganizationName("system:nodes") }
        let withCA = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [192, 0, 2, 11]))])
        }
        var caAttributes = CertificateSigningRequest.Attributes()
        caAttributes.insert(try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: withCA)))
        let caRequest = try CertificateSigningRequest(version: .v1, subject: subject, privateKey: key, attributes: caAttributes, signatureAlgorithm: .ecdsaWithSHA256)
        #expect(denial(CSRMaker.facts(request: Array(try caRequest.serializeAsPEM().pemString.utf8) + [10]))?.hasPrefix("the request asks for an extension other than subject alternative names") == true)
    }

    @Test func aNodeNameThatIsNotOneIsNotANode() throws {
        let request = try CSRMaker.pem(cn: "system:node:x/../../api", ips: [[192, 0, 2, 11]])
        var csr = CSRMaker.facts(request: request)
        csr.username = "system:node:x/../../api"
        #expect(KubeletServingReview.nodeName(csr) == nil)
        #expect(denial(csr) == "requester 'system:node:x/../../api' is not a node (system:node:NAME)")
    }

    @Test func twoJoinFilesThatDisagreeOnANodesIPLeaveItUncheckable() throws {
        var cluster = ClusterConfig()
        cluster.masterName = "master-1"
        cluster.masterIP = "192.0.2.10"
        func join(_ ip: String) -> JoinFile {
            var join = JoinFile(token: BootstrapToken("abcdef.0123456789abcdef")!, tokenExpires: Date())
            join.nodeName = "worker-1"
            join.nodeIP = ip
            return join
        }
        let book = AddressBook(cluster: cluster, minted: [join("192.0.2.11"), join("192.0.2.99")].map { MintedJoin(join: $0, minted: Date()) })
        #expect(book.conflicts == ["worker-1"])
        let request = try CSRMaker.pem(cn: "system:node:worker-1", ips: [[192, 0, 2, 11]])
        #expect(KubeletServingReview.review(CSRMaker.facts(request: request), nodeAddresses: addresses, book: book)
                == .deny("join files here name node worker-1 with different IPs: its IP cannot be checked"))
    }

    @Test func aNodeNoJoinFileWasMintedForIsLeftToAnotherMasterAndAMasterMayServeItsOwnIP() throws {
        // Never approved; not denied either, since another master's approver may know it.
        let left = KubeletServingReview.Verdict.leave("no join file was minted on this master for node stranger: left for the master that minted it")
        let stranger = try CSRMaker.pem(cn: "system:node:stranger", ips: [[192, 0, 2, 50]])
        #expect(verdict(CSRMaker.facts(node: "stranger", request: stranger), [NodeAddress("InternalIP", "192.0.2.50")]) == left)
        let dnsOnly = try CSRMaker.pem(cn: "system:node:stranger", dns: ["stranger"])
        #expect(verdict(CSRMaker.facts(node: "stranger", request: dnsOnly), [NodeAddress("Hostname", "stranger")]) == left)
        var unaddressed = book
        unaddressed.roles["worker-9"] = ["worker"]
        let noIP = try CSRMaker.pem(cn: "system:node:worker-9", ips: [[192, 0, 2, 59]])
        #expect(KubeletServingReview.review(CSRMaker.facts(node: "worker-9", request: noIP), nodeAddresses: [NodeAddress("InternalIP", "192.0.2.59")], book: unaddressed)
                == .deny("no join file was minted here for node worker-9: its IP cannot be checked"))
        let master = try CSRMaker.pem(cn: "system:node:master-1", ips: [[192, 0, 2, 10]])
        guard case .approve = verdict(CSRMaker.facts(node: "master-1", request: master), [NodeAddress("InternalIP", "192.0.2.10")]) else {
            Issue.record("a master's own kubelet was not approved"); return
        }
    }

    @Test func theFactsAreReadFromTheAPIsJSON() throws {
        let request = try CSRMaker.pem(cn: "system:node:worker-1", ips: [[192, 0, 2, 11]])
        let json: [String: Any] = [
            "metadata": ["name": "csr-x", "resourceVersion": "42"],
            "spec": ["request": Data(request).base64EncodedString(), "signerName": KubeletServingReview.signer, "usages": ["digital signature", "server auth"],
                     "username": "system:node:worker-1", "groups": ["system:nodes"]],
            "status": ["conditions": [["type": "Denied", "status": "True"]]],
        ]
        let facts = try #require(CSRFacts(json: json))
        #expect(facts.name == "csr-x" && facts.resourceVersion == "42" && facts.request == request && facts.decided)
        #expect(CSRFacts(json: ["kind": "Status"]) == nil)
    }

    @Test func everyMasterOfTheClusterIsKnownFromEtcdSoAnotherMastersKubeletIsJudgedHere() throws {
        var cluster = ClusterConfig()
        cluster.masterName = "master-1"
        cluster.masterIP = "192.0.2.11"
        let members = [EtcdMember(id: 1, name: "master-1", peerURLs: ["https://192.0.2.11:2380"]),
                       EtcdMember(id: 2, name: "master-2", peerURLs: ["https://192.0.2.12:2380"]),
                       EtcdMember(id: 3, name: "", peerURLs: ["https://192.0.2.13:2380"], isLearner: true)]
        let book = AddressBook(cluster: cluster, minted: [], etcdMembers: members)
        #expect(book.masters == ["master-1": "192.0.2.11", "master-2": "192.0.2.12"])
        #expect(book.roles["master-2"] == ["control-plane"])
        let own = try CSRMaker.pem(cn: "system:node:master-2", dns: ["master-2"], ips: [[192, 0, 2, 12]])
        guard case .approve = KubeletServingReview.review(CSRMaker.facts(node: "master-2", request: own),
                                                          nodeAddresses: [NodeAddress("InternalIP", "192.0.2.12"), NodeAddress("Hostname", "master-2")], book: book) else {
            Issue.record("master-2's kubelet was not approved on master-1"); return
        }
        let posing = try CSRMaker.pem(cn: "system:node:master-2", ips: [[192, 0, 2, 11]])
        #expect(KubeletServingReview.review(CSRMaker.facts(node: "master-2", request: posing), nodeAddresses: [NodeAddress("InternalIP", "192.0.2.11")], book: book)
                == .deny("IP 192.0.2.11 is master master-1's"))
    }
}
