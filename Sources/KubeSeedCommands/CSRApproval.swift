import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

extension MasterOperations {
    /// What this master knows of the cluster's machines: `seed init`'s record and every join file minted
    /// here (read again for each review, so a node joined since counts).
    static func addressBook(root: HostRoot, etcdMembers: [EtcdMember] = []) throws -> AddressBook {
        guard let text = try root.readText(ClusterConfig.recordPath) else {
            throw HostError(.file, "\(ClusterConfig.recordPath) is missing", cause: "run 'seed init' first")
        }
        let cluster = try ClusterConfig.parse(text, file: ClusterConfig.recordPath)
        var joinFiles: [JoinFile] = []
        let directory = joinFileDirectory
        for name in root.list(directory).sorted() where name.hasSuffix(".yaml") {
            guard let join = try root.readText("\(directory)/\(name)") else { continue }
            // An expired token does not make the node's IP less true.
            joinFiles.append(try JoinFile.parse(join, file: "\(directory)/\(name)", tokenExpiryMatters: false))
        }
        return AddressBook(cluster: cluster, joinFiles: joinFiles, etcdMembers: etcdMembers)
    }

    /// The book with every master of the cluster (the etcd members, as this master's etcd lists them;
    /// none when it does not answer).
    func fullAddressBook() async throws -> AddressBook {
        try Self.addressBook(root: root, etcdMembers: (try? await localEtcdMembers()) ?? [])
    }

    /// `seed csr-approver`: watches CSRs and decides kubelet-serving ones until stopped. Exit 2 when
    /// `seed init` has not run here (nothing to check against); otherwise it runs until stopped.
    public func approveCSRs() async -> Int32 {
        guard effectiveUID == 0 else { write("seed csr-approver: must run as root (it reads the admin key)\n"); return 1 }
        let masterIP: String
        let client: MutualTLSClient
        do {
            let book = try await fullAddressBook()
            guard let ip = try recordedConfig()?.masterIP else { throw HostError(.file, "\(ClusterConfig.recordPath) has no master.ip") }
            masterIP = ip
            client = try MutualTLSClient(baseURL: Self.url(masterIP, 6443), identity: try identity("admin"), readTimeout: .seconds(330))
            write("seed csr-approver: watching kubelet-serving CSRs at \(Self.url(masterIP, 6443)); \(book.nodes.count) nodes and \(book.masters.count) masters known\n")
        } catch {
            write("seed csr-approver: \(error)\n")
            return 2
        }
        var reader = MasterOperations(root: root, effects: effects, effectiveUID: effectiveUID)
        reader.certDirectory = certDirectory
        let books = AddressBookReader(operations: reader)
        let approver = CSRApprover(client: client, addressBook: { try await books.read() },
                                   log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) },
                                   status: { ServiceNotifier.notify("STATUS=\(Validate.printable($0))") })
        ServiceNotifier.notify("READY=1")
        await approver.run()
        await approver.drain()
        await client.shutdown()
        return 0
    }

    /// Role labels and the control-plane taint for every node this master minted a join file for (and
    /// itself), on the Nodes that exist; the approver labels the others as they register.
    func nodeRoles(_ masterIP: String) async throws -> InitPhase.Result {
        let book = try await fullAddressBook()
        var patched: [String] = []
        var absent: [String] = []
        try await withClient(Self.url(masterIP, 6443), presenting: "admin") { client in
            for (node, roles) in book.roles.sorted(by: { $0.key < $1.key }) where !roles.isEmpty {
                switch try await NodeLabeller.ensure(node, roles: roles, with: client) {
                case .patched: patched.append(node)
                case .absent: absent.append(node)
                case .unchanged: break
                }
            }
        }
        let waiting = absent.isEmpty ? "" : "; not registered yet (labelled by the CSR approver when they are): \(absent.joined(separator: " "))"
        return patched.isEmpty ? InitPhase.Result(state: .ok, detail: "\(book.roles.count - absent.count) Nodes have their roles\(waiting)")
            : InitPhase.Result(state: .changed, detail: "labelled \(patched.joined(separator: " "))\(waiting)", changes: patched.count)
    }
}

/// Reads the address book for each review (a master's operations are not Sendable: their output
/// closure is the caller's; this one is built without it).
final class AddressBookReader: @unchecked Sendable {
    let operations: MasterOperations
    init(operations: MasterOperations) { self.operations = operations }
    func read() async throws -> AddressBook { try await operations.fullAddressBook() }
}
